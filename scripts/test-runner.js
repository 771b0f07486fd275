// The child of scripts/test-run.js: `node --import tsx scripts/test-runner.js
// [--test-concurrency=N] [--test-groups=G] FILE...` runs FILE... with node:test's run() in the
// order given (each in its own process, which inherits --import tsx), prints TAP, and exits 1
// when a test failed, as `node --test` does.
//
// --test-groups=G runs the files in G processes instead of one each: file i goes to group
// i mod G, and each group is a generated file that imports its files, so their tests run in one
// process. A process costs about 0.9 s of CPU before its first test (node, tsx, the runner:
// README, "The test tiers"), which is most of what a unit file costs. No unit or fixture test
// changes process.env, the working directory or process handlers (test/unit/layers.test.ts
// checks), so files can share a process; `npm test` keeps one process per file all the same.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {run} from 'node:test'
import {tap} from 'node:test/reporters'
import {pathToFileURL} from 'node:url'

const OPTIONS = ['--test-concurrency', '--test-groups']
const args = process.argv.slice(2)
const option = (name, fallback) =>
  Number(args.find((a) => a.startsWith(`${name}=`))?.split('=')[1] ?? fallback)
const concurrency = option('--test-concurrency', 1)
const groups = option('--test-groups', 0)
const unknown = args.filter((a) => a.startsWith('-') && !OPTIONS.includes(a.split('=')[0]))
if (unknown.length > 0 || !(concurrency >= 1) || !(groups >= 0)) {
  console.error(
    `test-runner: usage: [--test-concurrency=N] [--test-groups=G] FILE... (not ${args.join(' ')})`,
  )
  process.exit(2)
}
let files = args.filter((a) => !a.startsWith('-'))

if (groups > 0) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-test-groups-'))
  process.once('exit', () => fs.rmSync(dir, {recursive: true, force: true}))
  const members = Array.from({length: Math.min(groups, files.length)}, () => [])
  files.forEach((f, i) => members[i % members.length].push(f))
  files = members.map((group, i) => {
    const entry = path.join(dir, `group-${i + 1}.test.mjs`)
    const imports = group.map(
      (f) => `// ${f}\nimport ${JSON.stringify(pathToFileURL(path.resolve(f)).href)}\n`,
    )
    fs.writeFileSync(entry, imports.join(''))
    return entry
  })
}

const stream = run({files, concurrency})
// A failed todo test does not fail the run, as under `node --test`.
stream.on('test:fail', (data) => {
  if (!data.todo) process.exitCode = 1
})
stream.compose(tap).pipe(process.stdout)
