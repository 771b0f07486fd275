import * as fs from 'node:fs'
import {createRequire} from 'node:module'
import * as path from 'node:path'
import type * as Tar from 'tar'

import {ExitCode, IommuctlError} from './errors.js'
import {formatBytes} from './model/units-of-measure.js'
import {Root} from './sysfs/root.js'
import {makeTempDir, TempDir} from './tempdir.js'

/** Directories whose presence makes a tree look like a Linux host's /sys. */
const SYSFS_MARKERS = ['bus', 'class', 'devices', 'kernel']

/*
 * Limits on a snapshot .tar.gz, which may come from anyone and is unpacked as root. What
 * `iommuctl snapshot` makes is small: the captured fixtures (test/fixtures, VMs with 8 to
 * 19 PCI functions) hold 391 to 855 entries and 46 to 92 KiB, their largest file 29 KiB
 * (proc/config.gz); a small host's own snapshot is 265 entries and 36 KiB. A host grows by
 * 38.6 entries (9.4 of them symbolic links, whose names come to some 520 bytes) and 4.9 KiB (4 KiB
 * of it config space) per PCI function: measured on snapshots of `node bench/gen-sysfs.js`
 * trees of 500 and 1,500 functions, copies of the intel fixture's devices. So 4096 functions
 * (SR-IOV NICs with all their VFs) come to some 158,000 entries, 38,000 links and 20 MiB. The
 * limits leave room for that and refuse what no sysfs tree is: the reported 18 MB tarball that
 * unpacks to 4 GB.
 */
/** Entries of any type: over one and a half times the 4096-function host. */
export const MAX_ENTRIES = 250_000
/** All files together: six times the 4096-function host. */
export const MAX_UNPACKED_BYTES = 128 * 1024 ** 2
/** One file: the largest real ones, /proc/interrupts of a many-CPU host and the ACPI tables, are a few MiB. */
export const MAX_FILE_BYTES = 16 * 1024 ** 2
/** A name or a link target: the deepest PCI hierarchy is some 300 bytes; the kernel's PATH_MAX is 4096. */
export const MAX_PATH_BYTES = 1024
/**
 * Symbolic links, which the check keeps by name until the end of a pass (nothing may be unpacked
 * through one): some 2.6 times the 4096-function host's. Without this and the next, 250,000
 * links with 1 KiB names held some 256 MiB.
 */
export const MAX_LINKS = 100_000
/** The names of all those links together: the 4096-function host's come to some 2 MiB. */
export const MAX_LINK_NAME_BYTES = 8 * 1024 ** 2
/**
 * Decompressed over compressed bytes, as node-tar counts them (its default): a snapshot's tar is
 * some 15 times its .tar.gz, and zeros, the stuff of bombs, shrink about 1000 times. This keeps
 * even the bytes that are never written (padding, whatever follows the archive's end) from
 * costing more than 1000 times the file's size to decompress.
 */
export const MAX_COMPRESSION_RATIO = 1000
/** What a snapshot holds: the reader follows symlinks, inside the root only. Never hard links, devices or FIFOs. */
const ENTRY_TYPES = new Set<Tar.ReadEntry['type']>(['File', 'OldFile', 'Directory', 'SymbolicLink'])
const TYPE_NAMES: Partial<Record<Tar.ReadEntry['type'], string>> = {
  Link: 'a hard link',
  CharacterDevice: 'a character device',
  BlockDevice: 'a block device',
  FIFO: 'a FIFO',
  ContiguousFile: 'a contiguous file',
  SparseFile: 'a sparse file',
}

/**
 * Opens what `--root` names: a directory (a host's /, a snapshot directory) or a snapshot
 * .tar.gz, which is unpacked into a private temporary directory removed when the command ends
 * (Root.close) or, at the latest, when the process exits or is stopped by a signal.
 */
export async function openRoot(arg: string): Promise<Root> {
  const resolved = path.resolve(arg)
  let st: fs.Stats
  try {
    st = fs.statSync(resolved)
  } catch {
    throw badRoot(arg, `${arg} does not exist`)
  }
  const unpacked = st.isFile() && /\.(tar\.gz|tgz)$/.test(resolved) ? await unpack(resolved) : null
  const dir = unpacked?.path ?? resolved
  try {
    return checkTree(arg, dir, resolved, unpacked)
  } catch (error) {
    unpacked?.remove()
    throw error
  }
}

function checkTree(arg: string, dir: string, resolved: string, unpacked: TempDir | null): Root {
  if (!fs.statSync(dir).isDirectory()) {
    throw badRoot(arg, `${arg} is neither a directory nor a snapshot .tar.gz`)
  }
  const sys = path.join(dir, 'sys')
  const markers = SYSFS_MARKERS.filter((m) => fs.existsSync(path.join(sys, m)))
  if (markers.length === 0) {
    throw badRoot(
      arg,
      `${arg} is not a sysfs-like tree: ${path.join(arg, 'sys')} has none of ${SYSFS_MARKERS.join(', ')}`,
    )
  }
  try {
    return new Root(dir, resolved, unpacked ? unpacked.remove : null)
  } catch (error) {
    throw badRoot(arg, `${arg} has an unreadable snapshot manifest: ${(error as Error).message}`)
  }
}

function badRoot(arg: string, message: string, suggestion?: string): IommuctlError {
  return new IommuctlError('BAD_ROOT', message, {
    exit: ExitCode.usage,
    path: arg,
    suggestion:
      suggestion ??
      'Give --root a host root (default /), a snapshot directory, or a .tar.gz made by `iommuctl snapshot`.',
  })
}

/**
 * Unpacks a snapshot .tar.gz in two passes over one open file: the first reads only the
 * headers and refuses the archive before anything is written; the second extracts, checking
 * each entry again, since the file may have changed in between.
 *
 * The second pass writes each entry before the parser reads the next (node-tar's UnpackSync),
 * while the file is still streamed: memory stays that of one chunk whatever the count of
 * entries, and time grows with it linearly. The asynchronous Unpack took entries as fast as the
 * parser gave them and wrote them later, holding every entry not yet written; empty files cost
 * the parser nothing, so 200,000 of them outgrew a 256 MiB heap (issue 10), and an abort for
 * memory runs no cleanup.
 */
async function unpack(file: string): Promise<TempDir> {
  // Loaded here, not at the top: tar costs about 10 ms of start-up that a directory root never needs.
  const tar = createRequire(import.meta.url)('tar') as typeof Tar
  const handle = await fs.promises.open(file, 'r')
  try {
    const scan = new ArchiveCheck()
    const parser: Tar.Parser = new tar.Parser({
      strict: true,
      maxDecompressionRatio: MAX_COMPRESSION_RATIO,
      filter: (_p, entry) => scan.admits(entry as Tar.ReadEntry, parser) && false,
    })
    await pump(handle, file, parser, scan)

    const dir = makeTempDir('iommuctl-root-')
    try {
      const check = new ArchiveCheck()
      const unpacker: Tar.Unpack = new tar.UnpackSync({
        cwd: dir.path,
        strict: true,
        maxDecompressionRatio: MAX_COMPRESSION_RATIO,
        preserveOwner: false,
        filter: (_p, entry) => check.admits(entry as Tar.ReadEntry, unpacker),
      })
      await pump(handle, file, unpacker, check)
    } catch (error) {
      dir.remove()
      throw error
    }
    return dir
  } finally {
    await handle.close()
  }
}

/** Streams the whole file into a parser or an unpacker, from the start; its errors become BAD_ROOT. */
async function pump(
  handle: fs.promises.FileHandle,
  file: string,
  sink: Tar.Parser,
  check: ArchiveCheck,
): Promise<void> {
  const source = handle.createReadStream({start: 0, autoClose: false})
  try {
    await new Promise<void>((resolve, reject) => {
      // on, not once: a strict parser emits an error for each bad header it meets after the
      // first, and an error event with no listener would end the process with a raw stack.
      source.on('error', reject)
      sink.on('error', reject)
      sink.once('end', resolve)
      source.pipe(sink)
    })
  } catch (error) {
    source.unpipe(sink)
    source.destroy()
    const message = (error as Error).message
    // node-tar's own words for its ratio check; the test of a bomb of zeros pins them.
    if (check.refused === null && /^max decompression ratio exceeded/.test(message)) {
      check.refused = `it decompresses to over ${MAX_COMPRESSION_RATIO} times its own size, past the limit for a snapshot`
    }
    if (check.refused !== null) {
      throw badRoot(
        file,
        `${file} is refused: ${check.refused}`,
        'A snapshot is what `iommuctl snapshot` writes; nothing was unpacked.',
      )
    }
    throw badRoot(file, `${file} could not be unpacked: ${message}`)
  }
}

/** Counts entries and bytes over one pass, and stops the pass at the first entry it refuses. */
class ArchiveCheck {
  /** Why the archive was refused, once it has been. */
  refused: string | null = null
  private entries = 0
  private bytes = 0
  /** Symlinks seen so far: nothing may be unpacked through one. Bounded by MAX_LINKS and MAX_LINK_NAME_BYTES. */
  private readonly links = new LinkNames()
  private linkCount = 0
  private linkBytes = 0

  admits(entry: Tar.ReadEntry, sink: Tar.Parser): boolean {
    this.refused ??= this.reason(entry)
    if (this.refused === null) return true
    sink.abort(new Error(this.refused))
    return false
  }

  private reason(entry: Tar.ReadEntry): string | null {
    const name = displayName(entry.path)
    if (++this.entries > MAX_ENTRIES) return `${name} is past the limit of ${MAX_ENTRIES} entries`
    const bad = badName(entry.path) ?? (entry.linkpath ? badName(entry.linkpath, 'link target') : null)
    if (bad) return `${name}: ${bad}`
    if (!ENTRY_TYPES.has(entry.type)) {
      return `${name} is ${TYPE_NAMES[entry.type] ?? `a tar entry of type ${entry.type}`}; a snapshot holds only files, directories and symbolic links`
    }
    const where = path.posix.normalize(entry.path).replace(/\/$/, '')
    const above = this.links.above(where)
    if (above !== null) return `${name} lies beyond the symbolic link ${displayName(above)}`
    if (entry.type === 'SymbolicLink') {
      // node-tar would refuse these too, but only once it had begun to write.
      const target = entry.linkpath ?? ''
      if (target.startsWith('/'))
        return `${name} is a symbolic link to an absolute path; a snapshot's links are relative`
      if (path.posix.join(path.posix.dirname(where), target).split('/')[0] === '..') {
        return `${name} is a symbolic link that leads out of the snapshot`
      }
      if (++this.linkCount > MAX_LINKS) return `${name} is past the limit of ${MAX_LINKS} symbolic links`
      this.linkBytes += Buffer.byteLength(where)
      if (this.linkBytes > MAX_LINK_NAME_BYTES) {
        return `${name} takes the names of symbolic links past the limit of ${formatBytes(MAX_LINK_NAME_BYTES)} in all`
      }
      this.links.add(where)
    } else {
      this.links.delete(where)
    }
    if (entry.size > MAX_FILE_BYTES) {
      return `${name} is ${formatBytes(entry.size)}, over the limit of ${formatBytes(MAX_FILE_BYTES)} for one file`
    }
    this.bytes += entry.size
    if (this.bytes > MAX_UNPACKED_BYTES) {
      return `${name} takes the files past the limit of ${formatBytes(MAX_UNPACKED_BYTES)} in all`
    }
    // A snapshot's files are plain data: no set-id bits, nothing writable by others.
    if (typeof entry.mode === 'number') entry.mode &= 0o755
    return null
  }
}

/** A prime, and the largest multiplier that keeps a hash times it within a double's 53 exact bits. */
const HASH_PRIME = 2 ** 31 - 1
const HASH_MULTIPLIER_MAX = 2 ** 21

/**
 * The names of the symbolic links met so far in a pass, and the question asked of every entry:
 * is any directory above it one of them? Each prefix of the entry's name is looked up by a hash
 * that grows with it, so one walk over the name answers, whatever its depth. Cutting out and
 * hashing each prefix anew took time in the square of the name's length, which a tarball of
 * 1 KiB names in 500 parts turned into minutes of CPU before anything was refused (the hostile
 * suite's deep-names case). The multiplier is drawn per process, unseen by whoever made the
 * archive, which so cannot pile its names into one hash.
 */
class LinkNames {
  private readonly byHash = new Map<number, string[]>()
  private readonly multiplier =
    HASH_MULTIPLIER_MAX / 2 + Math.floor(Math.random() * (HASH_MULTIPLIER_MAX / 2))

  add(name: string): void {
    const h = this.hash(name)
    const same = this.byHash.get(h)
    if (!same) this.byHash.set(h, [name])
    else if (!same.includes(name)) same.push(name)
  }

  delete(name: string): void {
    const h = this.hash(name)
    const same = this.byHash.get(h)?.filter((n) => n !== name)
    if (same?.length) this.byHash.set(h, same)
    else this.byHash.delete(h)
  }

  /** The first directory above `name` that is a link, or null. */
  above(name: string): string | null {
    if (this.byHash.size === 0) return null
    let h = 0
    for (let i = 0; i < name.length; i++) {
      if (name.charCodeAt(i) === 0x2f && i > 0) {
        const same = this.byHash.get(h)
        if (same) {
          const prefix = name.slice(0, i)
          if (same.includes(prefix)) return prefix
        }
      }
      h = this.step(h, name.charCodeAt(i))
    }
    return null
  }

  private hash(name: string): number {
    let h = 0
    for (let i = 0; i < name.length; i++) h = this.step(h, name.charCodeAt(i))
    return h
  }

  private step(h: number, code: number): number {
    return (h * this.multiplier + code + 1) % HASH_PRIME
  }
}

/** Why a path in the archive is not one a sysfs tree could have, or null. */
function badName(name: string, what = 'name'): string | null {
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) return `the ${what} is longer than ${MAX_PATH_BYTES} bytes`
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return `the ${what} has control characters`
  if (what !== 'name') return null
  if (name.startsWith('/')) return 'an absolute path'
  if (name.split('/').includes('..')) return 'a path with a .. component'
  return null
}

/** The entry's name, quoted and escaped, and cut short: it may be anything. */
function displayName(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}...` : name)
}
