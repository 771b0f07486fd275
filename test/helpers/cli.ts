import {execFile} from 'node:child_process'
import * as fs from 'node:fs'
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

export interface Spawned {
  stdout: string
  /** stderr with oclif's line wrapping and ' › ' margins undone, one message per line. */
  stderr: string
  status: number
}

/**
 * Runs bin/run.js in a child process: the real router, exit codes and streams as a shell user
 * sees them. (In-process capture of stdout, as @oclif/test does it, corrupts the results that
 * Node 20's test runner sends over stdout from each test file.)
 */
export function iommuctl(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeArgs: string[] = [],
  cwd?: string,
): Promise<Spawned> {
  // An env value of undefined removes the variable (e.g. NO_COLOR, set here by default).
  const merged = Object.fromEntries(
    Object.entries({...process.env, NO_COLOR: '1', ...env}).filter(([, v]) => v !== undefined),
  )
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...nodeArgs, path.join(REPO, 'bin/run.js'), ...args],
      {cwd, env: merged, maxBuffer: 64 << 20},
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
