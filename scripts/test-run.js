// `node scripts/test-run.js [--test-concurrency=N] FILE...` runs the test files with node:test,
// each in its own process as `node --test` runs them, with one directory of unpacked fixture
// trees that every file of the run shares (test/helpers/cli.ts fixtureTree:
// IOMMUCTL_FIXTURE_TREES), so a fixture is unpacked once per run rather than once per file, and
// removes it when the run ends. It prints TAP and exits 1 when a test failed; a signal that ends
// the run is passed on to it.
//
// Files start longest first. `node --test FILE...` sorts its files by name; run() (node:test's
// API, in scripts/test-runner.js) takes them in the order given, so with two at a time the VM
// files of 5-15 minutes each start before the short ones, and both slots end close together
// instead of one long file running alone at the end. The order is from the durations of a
// fresh-clone `.ci/run` (README, "The test tiers"); files not named keep their order after these.
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

const LONGEST_FIRST = [
  'test/vm/session.test.ts',
  'test/vm/configure.test.ts',
  'test/vm/host.test.ts',
  'test/vm/live.test.ts',
  'test/vm/snapshot.test.ts',
  'test/fixture/hostile.test.ts',
  'test/vm/exec.test.ts',
  'test/vm/apply-signals.test.ts',
  'test/vm/inspect.test.ts',
  'test/vm/faults.test.ts',
  'test/vm/mdev.test.ts',
  'test/vm/iommufd.test.ts',
  'test/vm/holders.test.ts',
]

/** ARGS with the files of LONGEST_FIRST moved to the front, in that order; options stay first. */
function longestFirst(args) {
  const rank = (a) => {
    const i = LONGEST_FIRST.indexOf(path.relative(process.cwd(), path.resolve(a)))
    return i < 0 ? LONGEST_FIRST.length : i
  }
  const options = args.filter((a) => a.startsWith('-'))
  const files = args.filter((a) => !a.startsWith('-'))
  return [
    ...options,
    ...files
      .map((f, i) => ({f, i}))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map((x) => x.f),
  ]
}

const trees = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-fixture-trees-'))
const runner = fileURLToPath(new URL('test-runner.js', import.meta.url))
const child = spawn(process.execPath, ['--import', 'tsx', runner, ...longestFirst(process.argv.slice(2))], {
  stdio: 'inherit',
  env: {...process.env, IOMMUCTL_FIXTURE_TREES: trees},
})
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => {
  fs.rmSync(trees, {recursive: true, force: true})
  if (signal) {
    process.removeAllListeners(signal)
    process.kill(process.pid, signal)
  } else process.exit(code ?? 1)
})
