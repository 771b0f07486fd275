import {ChildProcess, execFile, fork} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import * as tar from 'tar'

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const FIXTURES = path.join(REPO, 'test/fixtures')

/** The captured snapshots under test/fixtures, by topology name. */
export const CAPTURED = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.tar.gz'))
  .map((f) => f.replace(/\.tar\.gz$/, ''))

export const fixture = (name: string) => path.join(FIXTURES, `${name}.tar.gz`)

/** Unpacks a captured fixture into dir (as `tar xzf` would) and returns dir. */
export function unpackFixture(name: string, dir: string): string {
  fs.mkdirSync(dir, {recursive: true})
  tar.x({file: fixture(name), cwd: dir, sync: true, strict: true})
  return dir
}

let trees: string | undefined

/**
 * A captured fixture unpacked once, for reading only (a test that changes a tree copies it
 * first): `--root DIR` reads it without unpacking the .tar.gz again on every command (which
 * --root FILE.tar.gz does). Under scripts/test-run.js every test file of the run shares one
 * unpacked tree per fixture (IOMMUCTL_FIXTURE_TREES, removed when the run ends); a test file run
 * alone unpacks its own, removed when it exits.
 */
export function fixtureTree(name: string): string {
  const shared = process.env.IOMMUCTL_FIXTURE_TREES
  if (shared) return sharedTree(shared, name)
  if (!trees) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-fixtures-'))
    process.once('exit', () => fs.rmSync(dir, {recursive: true, force: true}))
    trees = dir
  }
  const dir = path.join(trees, name)
  return fs.existsSync(dir) ? dir : unpackFixture(name, dir)
}

/**
 * Two test files may ask for the same tree at once: each unpacks into a directory of its own and
 * renames it into place; the one that finds the place taken uses the tree already there.
 */
function sharedTree(shared: string, name: string): string {
  const dir = path.join(shared, name)
  if (fs.existsSync(path.join(dir, 'iommuctl-snapshot.json'))) return dir
  const mine = unpackFixture(name, fs.mkdtempSync(path.join(shared, `.${name}-`)))
  try {
    fs.renameSync(mine, dir)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw error
    fs.rmSync(mine, {recursive: true, force: true})
  }
  return dir
}

export interface Spawned {
  stdout: string
  /** stderr with oclif's line wrapping and ' › ' margins undone, one message per line. */
  stderr: string
  status: number
}

let built: string | null | undefined

/**
 * Both ways of running the CLI run dist/: it must not be older than src/. Returns why not, or
 * null. (A build per test run would cost more than many test files take.) The answer for this
 * checkout is found once per test file.
 */
export function staleDist(repo: string = REPO): string | null {
  if (repo === REPO && built !== undefined) return built
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, {withFileTypes: true}).flatMap((e) => {
      const p = path.join(dir, e.name)
      return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') ? [p] : []
    })
  const src = path.join(repo, 'src')
  let why: string | null = null
  for (const file of walk(src)) {
    const out = path.join(repo, 'dist', path.relative(src, file).replace(/\.ts$/, '.js'))
    const st = fs.statSync(out, {throwIfNoEntry: false})
    if (!st || st.mtimeMs < fs.statSync(file).mtimeMs) {
      why = `dist/ is ${st ? 'older than' : 'missing the build of'} ${path.relative(repo, file)}: run npm run build`
      break
    }
  }
  if (repo === REPO) built = why
  return why
}

/** Refuses, with staleDist's reason, to run a dist/ older than src/. */
export function requireBuilt(repo: string = REPO): void {
  const why = staleDist(repo)
  if (why) throw new Error(why)
}

/** An env value of undefined removes the variable (e.g. NO_COLOR, set here by default). */
function environment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries({...process.env, NO_COLOR: '1', ...env}).filter(([, v]) => v !== undefined),
  )
}

interface Worker {
  child: ChildProcess
  ready: Promise<void>
  pending: Map<number, (r: Spawned) => void>
}

const workers = new Map<string, Worker>()
let nextId = 0

/** One worker per environment and node options: chalk reads the environment once, at import. */
function worker(env: NodeJS.ProcessEnv, nodeArgs: string[]): Worker {
  const key = JSON.stringify([env, nodeArgs])
  let w = workers.get(key)
  if (w) return w
  const child = fork(path.join(REPO, 'test/helpers/cli-worker.mjs'), [], {
    env: environment(env),
    execArgv: nodeArgs,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const pending = new Map<number, (r: Spawned) => void>()
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`the CLI worker exited (${code})`))
      for (const done of pending.values())
        done({stdout: '', stderr: `the CLI worker exited (${code})`, status: 1})
      workers.delete(key)
    })
    child.on('message', (m: {ready?: boolean; id?: number} & Spawned) => {
      if (m.ready) return resolve()
      const done = pending.get(m.id!)
      pending.delete(m.id!)
      if (pending.size === 0) idle(child)
      done?.({stdout: m.stdout, stderr: unwrap(m.stderr), status: m.status})
    })
  })
  ready.catch(() => {})
  w = {child, ready, pending}
  workers.set(key, w)
  return w
}

/** An idle worker does not keep the test file's process alive; it exits when that does. */
function idle(child: ChildProcess): void {
  child.unref()
  ;(child.channel as {unref?: () => void} | undefined)?.unref?.()
}

function busy(child: ChildProcess): void {
  child.ref()
  ;(child.channel as {ref?: () => void} | undefined)?.ref?.()
}

/**
 * Runs `iommuctl ...args` through the real router (dist/, as bin/run.js does) inside a
 * long-lived worker process, and returns its stdout, stderr and exit status as a shell user
 * would see them. The worker, not the test file, captures the streams: in-process capture of
 * stdout in the test file itself corrupts what Node 20's test runner reports over it. Use
 * iommuctlProcess for what needs a process of its own: start-up, signals, stdin.
 */
export async function iommuctl(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
  cwd?: string,
): Promise<Spawned> {
  // The worker runs in the repository: a command that needs its own working directory gets a process.
  if (cwd !== undefined) return iommuctlProcess(args, env, nodeArgs, cwd)
  requireBuilt()
  const w = worker(env, nodeArgs)
  const id = nextId++
  busy(w.child)
  const reply = new Promise<Spawned>((resolve) => w.pending.set(id, resolve))
  await w.ready
  w.child.send({id, args})
  return reply
}

/** Runs bin/run.js in a child process of its own: the real binary, start-up, exit codes and streams. */
export function iommuctlProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
  cwd?: string,
): Promise<Spawned> {
  requireBuilt()
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...nodeArgs, path.join(REPO, 'bin/run.js'), ...args],
      {cwd, env: environment(env), maxBuffer: 64 << 20},
      (error, stdout, stderr) => {
        const status = error ? ((error as {code?: number}).code ?? 1) : 0
        resolve({stdout, stderr: unwrap(stderr), status: typeof status === 'number' ? status : 1})
      },
    )
  })
}

/** oclif wraps warnings and errors at the terminal width behind a ' ›   ' margin. */
export function unwrap(stderr: string): string {
  return stderr.replace(/\n ›  {0,3}(?!Error:|Warning:|Code:|Try this:)/g, ' ').replace(/^ › {3}/gm, '')
}
