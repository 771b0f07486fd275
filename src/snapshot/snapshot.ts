import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {Writable} from 'node:stream'
import * as tar from 'tar'

import {ExitCode, IommuctlError, errnoOf} from '../errors.js'
import {Bdf} from '../records.js'
import {GroupSummary, UnitSummary, listGroups, listPciDevices, listUnits} from '../sysfs/inventory.js'
import {MAX_ENTRIES} from '../host.js'
import {DevNode, describeType, MANIFEST_NAME, Root, SnapshotManifest, Unreadable} from '../sysfs/root.js'
import {TempDir, makeTempDir, settleSignals} from '../tempdir.js'
import {captureTree} from './capture.js'
import {checkOutputDir, describeDir, lexists, notAFile, outputExists, writeBeside} from '../output.js'

const SNAPSHOT_OUTPUT = {
  what: 'the snapshot',
  suggestion: 'Choose an output in a directory you can write, with -o FILE or --dir DIR.',
}

export type SnapshotFormat = 'tar.gz' | 'dir'

/** What `iommuctl snapshot` returns: where the snapshot went and what it holds, read back from it. */
export interface SnapshotResult {
  output: string
  format: SnapshotFormat
  source: string
  capturedAt: string
  kernel: string | null
  privileged: boolean
  units: UnitSummary[]
  groups: GroupSummary[]
  pciDevices: Bdf[]
  devNodes: DevNode[]
  unreadable: Unreadable[]
  warnings: string[]
}

export interface SnapshotOptions {
  /** A file path, a directory path (format dir), or '-' for a .tar.gz on the given stream. */
  output: string
  format: SnapshotFormat
  force: boolean
  tool: string
  stdout?: Writable
  /** Also the IOMMU's debugfs (VT-d tables, registers and page-table dumps, bounded). */
  debugfs?: boolean
}

/**
 * Captures src into the output. The tree is staged first and put in place with one rename,
 * so a failed or interrupted run leaves nothing half-written where the user asked.
 */
export async function takeSnapshot(src: Root, opts: SnapshotOptions): Promise<SnapshotResult> {
  const toStream = opts.output === '-'
  const output = toStream ? '-' : path.resolve(opts.output)
  if (toStream) checkStream(opts.stdout)
  else checkOutput(output, opts.format, opts.force)

  const stage = stageDir(toStream || opts.format === 'tar.gz' ? os.tmpdir() : path.dirname(output))
  try {
    const manifest = captureTree(src, stage.path, opts.tool, {debugfs: opts.debugfs})
    const result = summarize(new Root(stage.path), output, opts.format, src.source)
    result.unreadable = manifest.unreadable
    if (toStream) {
      await writeToStdout(stage.path, opts.stdout ?? process.stdout)
    } else if (opts.format === 'tar.gz') {
      await writeFile(stage.path, output, opts.force)
    } else {
      // The staging directory is private while it fills; the snapshot is for anyone to read.
      fs.chmodSync(stage.path, 0o755)
      replace(stage.path, output, 'dir', opts.force)
    }
    return result
  } finally {
    stage.remove()
    // A --dir snapshot is written synchronously: a stop signal that came meanwhile is still pending.
    await settleSignals()
  }
}

/** Where the tree is captured: beside a --dir output, so that one rename puts it in place. */
function stageDir(parent: string): TempDir {
  try {
    return makeTempDir('.iommuctl-snapshot-', parent)
  } catch (error) {
    const errno = errnoOf(error)
    throw new IommuctlError(
      'OUTPUT_UNWRITABLE',
      `Cannot stage the snapshot in ${parent}: ${describeDir(errno, parent)}`,
      {
        errno,
        path: parent,
        suggestion: 'Choose an output in a directory you can write, with -o FILE or --dir DIR.',
      },
    )
  }
}

/** Reads a snapshot tree back with the same readers the other commands use. */
function summarize(root: Root, output: string, format: SnapshotFormat, source: string): SnapshotResult {
  const manifest = root.manifest
  if (!manifest) throw new Error('snapshot manifest missing from staged tree')
  const groups = listGroups(root)
  const units = listUnits(root)
  const warnings: string[] = []
  if (groups.length === 0) {
    warnings.push(
      'No IOMMU groups: this host has no IOMMU in use (/sys/kernel/iommu_groups is empty or absent).',
    )
  }
  if (!manifest.privileged && manifest.unreadable.length > 0) {
    warnings.push('Some files need root to read; run as root for a complete snapshot.')
  }
  return {
    output,
    format,
    source,
    capturedAt: manifest.capturedAt,
    kernel: manifest.kernel,
    privileged: manifest.privileged,
    units,
    groups,
    pciDevices: listPciDevices(root),
    devNodes: manifest.devNodes,
    unreadable: manifest.unreadable,
    warnings,
  }
}

/** Refuses, before any work, an output that exists (without --force) or cannot be written. */
function checkOutput(output: string, format: SnapshotFormat, force: boolean): void {
  checkOutputDir(output, SNAPSHOT_OUTPUT)
  if (!lexists(output)) return
  if (!force) throw outputExists(output)
  checkReplaceable(output, format)
}

/**
 * --force replaces only what iommuctl made: for -o FILE a regular file (never a device
 * node, a FIFO, a directory, or a symlink's target); for --dir a directory holding
 * iommuctl's manifest and nothing a snapshot does not have (only files, directories and
 * symlinks, on one filesystem), and never /, the working directory or one above it.
 */
function checkReplaceable(output: string, format: SnapshotFormat): void {
  const why = format === 'tar.gz' ? notAFile(output) : notASnapshotDir(output)
  if (why === null) return
  throw new IommuctlError(
    'OUTPUT_NOT_SNAPSHOT',
    `--force replaces only a snapshot iommuctl wrote, and ${output} is ${why}; nothing was changed.`,
    {
      exit: ExitCode.usage,
      path: output,
      suggestion: 'Choose another output, or remove this one yourself if it should go.',
    },
  )
}

/** Names at the top of a snapshot directory (capture.ts writes these and nothing else). */
const SNAPSHOT_TOP = new Set(['dev', 'proc', 'sys', MANIFEST_NAME])

function notASnapshotDir(output: string): string | null {
  const st = fs.lstatSync(output)
  if (!st.isDirectory()) return describeType(st)
  const real = fs.realpathSync(output)
  const cwd = fs.realpathSync(process.cwd())
  if (real === '/') return 'the root directory'
  if (cwd === real || cwd.startsWith(real + '/')) {
    return cwd === real ? 'the current directory' : 'a directory above the current one'
  }
  if (fs.statSync(path.dirname(real)).dev !== st.dev) return 'a mount point'
  const manifest = path.join(output, MANIFEST_NAME)
  if (!fs.lstatSync(manifest, {throwIfNoEntry: false})?.isFile())
    return `a directory without ${MANIFEST_NAME}`
  try {
    const parsed = JSON.parse(fs.readFileSync(manifest, 'utf8')) as Partial<SnapshotManifest>
    if (parsed.format !== 1 || typeof parsed.tool !== 'string') throw new Error()
  } catch {
    return `a directory whose ${MANIFEST_NAME} is not iommuctl's`
  }
  const extra = fs.readdirSync(output).filter((name) => !SNAPSHOT_TOP.has(name))
  if (extra.length > 0) return `a directory that also holds ${extra.slice(0, 3).join(', ')}`
  return foreignEntry(output, st.dev)
}

/** The first entry below dir a snapshot cannot have, as a reason; null when there is none. */
function foreignEntry(dir: string, dev: number): string | null {
  let entries = 0
  const pending = [dir]
  for (let d = pending.pop(); d !== undefined; d = pending.pop()) {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name)
      const st = fs.lstatSync(p)
      if (++entries > MAX_ENTRIES) return `a directory of more than ${MAX_ENTRIES} entries`
      if (st.dev !== dev) return `a directory with another filesystem mounted at ${p}`
      if (st.isDirectory()) pending.push(p)
      else if (!st.isFile() && !st.isSymbolicLink()) return `a directory holding ${describeType(st)} at ${p}`
    }
  }
  return null
}

/**
 * Puts a finished snapshot where the user asked. What is there was checked before the
 * capture and is checked again now, just before it goes: a file is replaced by the rename
 * itself; a directory is moved aside, into a temporary directory beside it, and removed once
 * the new one is in place (and put back if that fails).
 */
function replace(from: string, to: string, format: SnapshotFormat, force: boolean): void {
  if (!lexists(to)) return fs.renameSync(from, to)
  if (!force) throw outputExists(to)
  checkReplaceable(to, format)
  if (format === 'tar.gz') return fs.renameSync(from, to)
  const aside = makeTempDir('.iommuctl-replaced-', path.dirname(to))
  try {
    const old = path.join(aside.path, 'snapshot')
    fs.renameSync(to, old)
    try {
      fs.renameSync(from, to)
    } catch (error) {
      fs.renameSync(old, to)
      throw error
    }
  } finally {
    aside?.remove()
  }
}

/**
 * Refuses stdout when it is closed: Node puts /dev/null there (opened read-write, node.cc
 * PlatformInit), and the snapshot would be lost. A shell's `>/dev/null` opens it write-only: the
 * user named the device, and the snapshot goes where they asked.
 */
function checkStream(stream: Writable | undefined): void {
  if (stream !== undefined) return
  let st: fs.Stats | undefined
  try {
    st = fs.fstatSync(1)
  } catch {
    // Not even /dev/null: reported as closed below.
  }
  const devNull = fs.statSync('/dev/null', {throwIfNoEntry: false})
  if (st && !(st.isCharacterDevice() && devNull && st.rdev === devNull.rdev)) return
  if (st && openedWriteOnly(1)) return
  throw new IommuctlError(
    'OUTPUT_UNWRITABLE',
    'Cannot write the snapshot to stdout: it is closed, and the snapshot would be lost.',
    {suggestion: 'Redirect stdout to a file or a pipe, or write the snapshot with -o FILE.'},
  )
}

/** Whether this process's fd was opened O_WRONLY (/proc/self/fdinfo/FD: "flags: <octal>"); false when unknown. */
function openedWriteOnly(fd: number): boolean {
  let info: string
  try {
    info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
  } catch {
    return false
  }
  const m = /^flags:\s+([0-7]{1,11})$/m.exec(info)
  // O_ACCMODE is 3 on Linux; Node's fs.constants has no name for it.
  return m !== null && (parseInt(m[1]!, 8) & 3) === fs.constants.O_WRONLY
}

async function writeToStdout(dir: string, out: Writable): Promise<void> {
  try {
    await writeTarball(dir, out)
  } catch (error) {
    const errno = errnoOf(error)
    throw new IommuctlError(
      'OUTPUT_UNWRITABLE',
      `Cannot write the snapshot to stdout: ${errno === 'EPIPE' ? 'the reading end of the pipe was closed (EPIPE)' : (error as Error).message}`,
      {errno, suggestion: 'Keep the reader open until the snapshot ends, or write it with -o FILE.'},
    )
  }
}

/**
 * Writes the .tar.gz into a temporary directory beside the output (so an interrupted run
 * leaves nothing there), then renames it into place.
 */
async function writeFile(dir: string, output: string, force: boolean): Promise<void> {
  await writeBeside(
    output,
    SNAPSHOT_OUTPUT,
    (file) => writeTarball(dir, file),
    (partial) => replace(partial, output, 'tar.gz', force),
  )
}

/**
 * Streams the tree as a .tar.gz, each chunk written before the next: a write that fails
 * (EPIPE, EBADF, ENOSPC) fails the snapshot. The listener stays on the stream, so an error
 * it reports late is not an uncaught one.
 */
async function writeTarball(dir: string, out: Writable): Promise<void> {
  let failure: Error | undefined
  out.on('error', (error: Error) => (failure ??= error))
  const entries = fs.readdirSync(dir).sort()
  for await (const chunk of tar.c({gzip: true, cwd: dir, portable: true}, entries)) {
    await new Promise<void>((resolve, reject) =>
      out.write(chunk as Buffer, (error) => (error ? reject(error) : resolve())),
    )
    if (failure) throw failure
  }
}
