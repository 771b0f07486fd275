import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {Writable} from 'node:stream'
import * as tar from 'tar'

import {ExitCode, IommuctlError, errnoOf} from '../errors.js'
import {Bdf} from '../records.js'
import {GroupSummary, UnitSummary, listGroups, listPciDevices, listUnits} from '../sysfs/inventory.js'
import {DevNode, Root, Unreadable} from '../sysfs/root.js'
import {captureTree} from './capture.js'

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
}

/**
 * Captures src into the output. The tree is staged first and put in place with one rename,
 * so a failed or interrupted run leaves nothing half-written where the user asked.
 */
export async function takeSnapshot(src: Root, opts: SnapshotOptions): Promise<SnapshotResult> {
  const toStream = opts.output === '-'
  const output = toStream ? '-' : path.resolve(opts.output)
  if (!toStream) checkOutput(output, opts.force)

  const stageParent = toStream || opts.format === 'tar.gz' ? os.tmpdir() : path.dirname(output)
  const stage = fs.mkdtempSync(path.join(stageParent, '.iommuctl-snapshot-'))
  fs.chmodSync(stage, 0o755)
  try {
    const manifest = captureTree(src, stage, opts.tool)
    const result = summarize(new Root(stage), output, opts.format, src.source)
    result.unreadable = manifest.unreadable
    if (toStream) {
      await writeTarball(stage, opts.stdout ?? process.stdout)
    } else if (opts.format === 'tar.gz') {
      const partial = `${output}.partial-${process.pid}`
      try {
        await writeTarball(stage, fs.createWriteStream(partial))
        replace(partial, output)
      } catch (error) {
        const errno = errnoOf(error)
        throw new IommuctlError(
          'OUTPUT_UNWRITABLE',
          `Cannot write the snapshot to ${output}: ${(error as Error).message}`,
          {
            errno,
            path: output,
            suggestion: 'Choose an output on a writable filesystem with -o FILE or --dir DIR.',
          },
        )
      } finally {
        fs.rmSync(partial, {force: true})
      }
    } else {
      replace(stage, output)
    }
    return result
  } finally {
    fs.rmSync(stage, {recursive: true, force: true})
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
function checkOutput(output: string, force: boolean): void {
  const parent = path.dirname(output)
  try {
    if (!fs.statSync(parent).isDirectory()) throw Object.assign(new Error(), {code: 'ENOTDIR'})
    fs.accessSync(parent, fs.constants.W_OK)
  } catch (error) {
    const errno = errnoOf(error)
    throw new IommuctlError(
      'OUTPUT_UNWRITABLE',
      `Cannot write the snapshot to ${output}: ${describeDir(errno, parent)}`,
      {
        errno,
        path: output,
        suggestion: 'Choose an output in a directory you can write, with -o FILE or --dir DIR.',
      },
    )
  }
  if (fs.existsSync(output) && !force) {
    throw new IommuctlError('OUTPUT_EXISTS', `${output} already exists; nothing was written.`, {
      exit: ExitCode.usage,
      path: output,
      suggestion: 'Pass --force to replace it, or choose another name.',
    })
  }
}

function describeDir(errno: string | undefined, dir: string): string {
  if (errno === 'ENOENT') return `the directory ${dir} does not exist`
  if (errno === 'ENOTDIR') return `${dir} is not a directory`
  if (errno === 'EACCES' || errno === 'EPERM' || errno === 'EROFS') return `${dir} is not writable (${errno})`
  return `${dir}: ${errno ?? 'unknown error'}`
}

function replace(from: string, to: string): void {
  if (fs.existsSync(to)) fs.rmSync(to, {recursive: true, force: true})
  fs.renameSync(from, to)
}

async function writeTarball(dir: string, out: Writable): Promise<void> {
  const entries = fs.readdirSync(dir).sort()
  const stream = tar.c({gzip: true, cwd: dir, portable: true}, entries)
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject)
    out.on('error', reject)
    if (out === process.stdout) {
      stream.on('end', resolve)
      stream.pipe(out, {end: false})
    } else {
      out.on('finish', resolve)
      stream.pipe(out)
    }
  })
}
