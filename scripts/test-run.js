// Runs `node --import tsx --test ARGS...` with one directory of unpacked fixture trees that every
// test file of the run shares (test/helpers/cli.ts fixtureTree: IOMMUCTL_FIXTURE_TREES), so a
// fixture is unpacked once per run rather than once per file, and removes it when the run ends.
// The exit status is the test runner's; a signal that ends the run is passed on to it.
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const trees = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-fixture-trees-'))
const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...process.argv.slice(2)], {
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
