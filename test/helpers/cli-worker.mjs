// A long-lived CLI for the tests (test/helpers/cli.ts): runs each command it is sent through
// oclif's router in this process, with this process's stdout and stderr captured for the
// call, and sends back what a shell user would have seen. One worker serves many commands, so
// a test pays for node, oclif and the command modules once instead of on every case. It runs
// dist/ as bin/run.js does; the parent checks dist/ is not older than src/ first.
import {Buffer} from 'node:buffer'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

process.env.OCLIF_DISABLE_ENGINE_WARNING = 'true'
const {Config, flush, handle, run} = await import('@oclif/core')

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = path.join(REPO, 'bin/run.js')
// Loaded once here to pay for the modules before the worker says it is ready; each command then
// gives run() the root, and run() loads a Config of its own (3-5 ms). Handed a Config instead,
// run() builds a new one from it that reuses its plugin objects, and after a `--help` run a reused
// one answered the next command with "command devices:restore not found"
// (test/fixture/configure.test.ts's --help case, then session.test.ts's restore, in one worker).
await Config.load(REPO)
const realExit = process.exit.bind(process)
// Each --root FILE.tar.gz registers a clean-up on exit (src/host.ts); a worker runs many.
process.setMaxListeners(0)

/** Runs one command as `iommuctl ...args` would, returning its streams and exit status. */
async function invoke(args) {
  const out = []
  const err = []
  const writes = {stdout: process.stdout.write, stderr: process.stderr.write}
  const capture = (sink) =>
    function (chunk, encoding, callback) {
      sink.push(
        typeof chunk === 'string'
          ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
          : Buffer.from(chunk),
      )
      const cb = typeof encoding === 'function' ? encoding : callback
      if (cb) process.nextTick(cb)
      return true
    }
  const argv = process.argv
  let exited
  process.argv = [process.execPath, BIN, ...args]
  process.exitCode = undefined
  process.stdout.write = capture(out)
  process.stderr.write = capture(err)
  // oclif's error handler ends with process.exit: keep the code, keep the worker.
  process.exit = (code) => {
    exited ??= code ?? process.exitCode ?? 0
  }
  try {
    await run(args, REPO)
    await flush()
  } catch (error) {
    await handle(error)
  } finally {
    process.stdout.write = writes.stdout
    process.stderr.write = writes.stderr
    process.exit = realExit
    process.argv = argv
  }
  const status = Number(exited ?? process.exitCode ?? 0)
  process.exitCode = undefined
  return {stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), status}
}

let queue = Promise.resolve()
process.on('message', (request) => {
  // One at a time: the capture is of the whole process.
  queue = queue.then(async () => {
    let reply
    try {
      reply = {id: request.id, ...(await invoke(request.args))}
    } catch (error) {
      reply = {id: request.id, stdout: '', stderr: String(error?.stack ?? error), status: 1}
    }
    process.send(reply)
  })
})
// The test file is done with it: exit, so that the exit clean-ups run.
process.on('disconnect', () => realExit(0))
process.send({ready: true})
