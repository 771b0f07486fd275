// The child of scripts/test-run.js: `node --import tsx scripts/test-runner.js
// [--test-concurrency=N] FILE...` runs FILE... with node:test's run() in the order given (each
// file in its own process, which inherits --import tsx), prints TAP, and exits 1 when a test
// failed, as `node --test` does.
import {run} from 'node:test'
import {tap} from 'node:test/reporters'

const args = process.argv.slice(2)
const concurrency = Number(args.find((a) => a.startsWith('--test-concurrency='))?.split('=')[1] ?? 1)
const unknown = args.filter((a) => a.startsWith('-') && !a.startsWith('--test-concurrency='))
if (unknown.length > 0 || !(concurrency >= 1)) {
  console.error(
    `test-runner: usage: [--test-concurrency=N] FILE... (not ${unknown.join(' ') || concurrency})`,
  )
  process.exit(2)
}
const files = args.filter((a) => !a.startsWith('-'))

const stream = run({files, concurrency})
// A failed todo test does not fail the run, as under `node --test`.
stream.on('test:fail', (data) => {
  if (!data.todo) process.exitCode = 1
})
stream.compose(tap).pipe(process.stdout)
