// Writing a file where the user asked (-o FILE): refused before any work when it cannot be
// written or is there already, written into a private directory beside it, and put in place with
// one rename, so a failed or interrupted run leaves nothing half-written there, and a reader
// (node_exporter's textfile collector, NFD's local source) never sees a partial file. The rename
// replaces a symlink itself, never what it points to; --force replaces only a regular file.
import * as fs from 'node:fs'
import * as path from 'node:path'
import {Writable} from 'node:stream'

import {ExitCode, IommuctlError, errnoOf} from './errors.js'
import {describeType} from './sysfs/root.js'
import {makeTempDir, TempDir} from './tempdir.js'

export function lexists(p: string): boolean {
  return fs.lstatSync(p, {throwIfNoEntry: false}) !== undefined
}

export function describeDir(errno: string | undefined, dir: string): string {
  if (errno === 'ENOENT') return `the directory ${dir} does not exist`
  if (errno === 'ENOTDIR') return `${dir} is not a directory`
  if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS') return `${dir} is not writable (${errno})`
  return `${dir}: ${errno ?? 'unknown error'}`
}

/** What is written, in words ("the snapshot"), and what to suggest when it cannot be. */
export interface OutputKind {
  what: string
  suggestion: string
}

/** Refuses an output whose directory does not exist or cannot be written. */
export function checkOutputDir(output: string, kind: OutputKind): void {
  const parent = path.dirname(output)
  try {
    if (!fs.statSync(parent).isDirectory()) throw Object.assign(new Error(), {code: 'ENOTDIR'})
    fs.accessSync(parent, fs.constants.W_OK)
  } catch (error) {
    const errno = errnoOf(error)
    throw new IommuctlError(
      'OUTPUT_UNWRITABLE',
      `Cannot write ${kind.what} to ${output}: ${describeDir(errno, parent)}`,
      {errno, path: output, suggestion: kind.suggestion},
    )
  }
}

export function outputExists(output: string): IommuctlError {
  return new IommuctlError('OUTPUT_EXISTS', `${output} already exists; nothing was written.`, {
    exit: ExitCode.usage,
    path: output,
    suggestion: 'Pass --force to replace it, or choose another name.',
  })
}

/** Why what is at output is not a regular file (a symlink, a directory, a device), or null. */
export function notAFile(output: string): string | null {
  const st = fs.lstatSync(output)
  return st.isFile() ? null : describeType(st)
}

/**
 * Writes a file through fill() into a private directory beside output, then hands it to place()
 * (which renames it over output after its own last check). Errors that are not already ours
 * become OUTPUT_UNWRITABLE.
 */
export async function writeBeside(
  output: string,
  kind: OutputKind,
  fill: (out: Writable) => Promise<void>,
  place: (partial: string) => void,
): Promise<void> {
  let aside: TempDir | undefined
  try {
    aside = makeTempDir('.iommuctl-partial-', path.dirname(output))
    const partial = path.join(aside.path, path.basename(output))
    const file = fs.createWriteStream(partial, {flags: 'wx', mode: 0o644})
    await fill(file)
    await new Promise<void>((resolve, reject) => {
      file.once('error', reject)
      file.end(resolve)
    })
    place(partial)
  } catch (error) {
    if (error instanceof IommuctlError) throw error
    throw new IommuctlError(
      'OUTPUT_UNWRITABLE',
      `Cannot write ${kind.what} to ${output}: ${(error as Error).message}`,
      {errno: errnoOf(error), path: output, suggestion: kind.suggestion},
    )
  } finally {
    aside?.remove()
  }
}

/**
 * Writes text to output as `export -o` does: refused when output exists (without force) or is
 * not a regular file (a symlink, a directory, a FIFO), checked again just before the rename.
 */
export async function writeTextFile(
  output: string,
  text: string,
  opts: {force: boolean; kind: OutputKind},
): Promise<void> {
  const check = () => {
    if (!lexists(output)) return
    if (!opts.force) throw outputExists(output)
    const why = notAFile(output)
    if (why === null) return
    throw new IommuctlError(
      'OUTPUT_NOT_FILE',
      `--force replaces only a regular file, and ${output} is ${why}; nothing was changed.`,
      {
        exit: ExitCode.usage,
        path: output,
        suggestion: 'Choose another output, or remove this one yourself if it should go.',
      },
    )
  }
  checkOutputDir(output, opts.kind)
  check()
  await writeBeside(
    output,
    opts.kind,
    (out) => new Promise<void>((resolve, reject) => out.write(text, (e) => (e ? reject(e) : resolve()))),
    (partial) => {
      check()
      fs.renameSync(partial, output)
    },
  )
}
