import * as fs from 'node:fs'
import * as path from 'node:path'

import {ExitCode, IommuctlError} from '../errors.js'
import {printable} from '../printable.js'
import {schemaValidators} from '../schema.js'

/** One read buffer for every attribute this process reads (sysfs attributes are at most a page). */
const CHUNK = Buffer.allocUnsafe(64 * 1024)

/** Name of the file that marks a tree as a snapshot and carries what sysfs cannot hold. */
export const MANIFEST_NAME = 'iommuctl-snapshot.json'

export type DevNodeType = 'char' | 'block' | 'file' | 'other'

/** What a snapshot records of a /dev node: regular files cannot stand in for device nodes. */
export interface DevNode {
  /** @pattern ^/dev/ */
  path: string
  type: DevNodeType
  /** @pattern ^0[0-7]{3,4}$ */
  mode: string
  uid: number
  gid: number
  owner: string | null
  group: string | null
  major: number | null
  minor: number | null
}

export interface Unreadable {
  /** @pattern ^/ */
  path: string
  reason: string
}

/** A file a snapshot holds only the start of (a page-table dump past its bound), cut at a line's end. */
export interface CutFile {
  /** @pattern ^/ */
  path: string
  keptBytes: number
  totalBytes: number
}

/** iommuctl-snapshot.json; schemas/manifest.json is generated from this type and checked on reading. */
export interface SnapshotManifest {
  format: 1
  tool: string
  capturedAt: string
  kernel: string | null
  privileged: boolean
  devNodes: DevNode[]
  unreadable: Unreadable[]
  /** Files kept only in part (`snapshot --debugfs`: page-table dumps past their bound). */
  cut?: CutFile[]
}

/** Linux's MAXSYMLINKS: how many links one path may go through before the kernel gives ELOOP. */
const MAX_LINKS = 40

const KiB = 1024
const MiB = 1024 * KiB

/**
 * The most bytes read from one file, by where it is: the first pattern that matches wins. A sysfs
 * text attribute is at most a page (sysfs_emit) and PCI config space 4096 bytes; the others are
 * generous bounds on what real hosts have, so a snapshot cannot make a reader take gigabytes.
 */
const LIMITS: [RegExp, number, string][] = [
  [/^\/sys\/firmware\/acpi\/tables\//, 16 * MiB, 'an ACPI table'],
  // debugfs dumps tables, one line per entry: a context entry per device, a page per mapped page.
  [/^\/sys\/kernel\/debug\/iommu\//, 64 * MiB, 'an IOMMU debugfs dump'],
  [/^\/sys\//, 4 * KiB, 'a sysfs attribute (one page)'],
  [/^\/proc\/config\.gz$/, 1 * MiB, '/proc/config.gz'],
  [/^\/proc\/(interrupts$|net\/)/, 64 * MiB, 'a /proc table'],
  [/^\/proc\//, 16 * MiB, 'a /proc file'],
  [/^\/lib\/modules\/[^/]+\/modules\.[a-z.]+$/, 32 * MiB, 'a module index'],
  [/^\/boot\/config-/, 4 * MiB, 'a kernel configuration'],
  [/^\/etc\/(passwd|group)$/, 16 * MiB, 'a user database'],
  [new RegExp(`^/${MANIFEST_NAME.replace(/\./g, '\\.')}$`), 64 * MiB, 'a snapshot manifest'],
]
/** Anything else a caller reads: no file iommuctl reads elsewhere comes near it. */
const DEFAULT_LIMIT: [number, string] = [1 * MiB, 'a file']

function limitOf(hostPath: string): [number, string] {
  for (const [pattern, bytes, kind] of LIMITS) if (pattern.test(hostPath)) return [bytes, kind]
  return DEFAULT_LIMIT
}

/** O_NONBLOCK: a FIFO where a file should be must not block the open. */
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK
/** Write-only, never creating a file, never through a final symlink (bind and unbind are write-only). */
const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW

/**
 * A host root: a host's /, a snapshot directory, or an extracted snapshot. A snapshot may come
 * from anyone and is read as root, so every path is resolved inside the root, as openat2's
 * RESOLVE_IN_ROOT does: the reader follows each symlink itself (absolute targets taken from the
 * root, `..` stopped at it, at most MAX_LINKS of them), so the operating system never follows
 * one out of the tree. Only regular files are read, each with a size cap (LIMITS). A tree that
 * another process changes while it is read is not defended against: the checks and the opens
 * are separate system calls.
 */
export class Root {
  readonly manifest: SnapshotManifest | null
  /** What was skipped or doubtful in this root (names not valid for their kind), once each. */
  readonly warnings: string[] = []
  private readonly warned = new Set<string>()
  /**
   * The physical host path (every component a real entry, no symlink) that each path resolved so
   * far leads to, by that path and by its physical parent plus its name: resolving a device's
   * link costs an lstat, a readlink and an lstat of its directory once, and each attribute then
   * only its own open, fstat, read and close.
   */
  private readonly resolved = new Map<string, string>()

  /**
   * @param dir where the tree is on disk
   * @param source what the user named (a .tar.gz is unpacked elsewhere); dir by default
   */
  constructor(
    readonly dir: string,
    readonly source: string = dir,
    /** Removes what opening the root made (an unpacked .tar.gz): called once, by close(). */
    private release: (() => void) | null = null,
  ) {
    this.manifest = this.isLive ? null : this.readManifest()
  }

  /** Done with the root: an unpacked snapshot is removed now, not only when the process exits. */
  close(): void {
    const release = this.release
    this.release = null
    release?.()
  }

  /** Whether this is the running host itself (dir is /): then there is nothing to contain. */
  get isLive(): boolean {
    return this.dir === '/'
  }

  get isSnapshot(): boolean {
    return this.manifest !== null
  }

  /**
   * The on-disk path of a host path, unresolved: for messages and for the write checks of
   * src/configure. Never read through it: the operating system would follow links out of the root.
   */
  abs(hostPath: string): string {
    return this.isLive ? hostPath : this.dir + hostPath
  }

  /** Records a warning (shown once, on stderr, by the command that reads this root). */
  warn(message: string): void {
    if (this.warned.has(message)) return
    this.warned.add(message)
    this.warnings.push(message)
  }

  /**
   * File contents, or null when the file does not exist. Reads until a short read: a sysfs
   * attribute comes whole in one read. Throws an IommuctlError for anything but a regular file
   * (a FIFO, a device, a directory) and for a file over its cap (LIMITS); other errors propagate.
   */
  readBytes(hostPath: string): Buffer | null {
    // CHUNK is reused by the next read: the caller gets a copy.
    return this.read(hostPath, (bytes) => Buffer.from(bytes))
  }

  /** A sysfs attribute as trimmed text, or null when absent; refused as readBytes refuses. */
  readText(hostPath: string): string | null {
    // Decoded straight from CHUNK: no copy of the bytes for the garbage collector.
    return this.read(hostPath, (bytes) => bytes.toString('utf8').trim())
  }

  /** Reads a file and hands its bytes to take before the next read can overwrite them. */
  private read<T>(hostPath: string, take: (bytes: Buffer) => T): T | null {
    const fd = this.open(hostPath, READ_FLAGS)
    if (fd === null) return null
    try {
      const [limit, kind] = limitOf(hostPath)
      const st = fs.fstatSync(fd)
      if (!st.isFile())
        throw this.refused('NOT_A_FILE', hostPath, `is ${describeType(st)}, not a regular file`)
      // A snapshot's files have their real size, so a sparse or huge one is refused unread (a live
      // sysfs attribute's size is the page size, which is not what it holds).
      if (!this.isLive && st.size > limit) throw this.tooLarge(hostPath, limit, kind)
      const parts: Buffer[] = []
      let total = 0
      for (;;) {
        const want = Math.min(CHUNK.length, limit + 1 - total)
        const n = fs.readSync(fd, CHUNK, 0, want, null)
        total += n
        if (total > limit) throw this.tooLarge(hostPath, limit, kind)
        if (n < want && parts.length === 0) return take(CHUNK.subarray(0, n))
        parts.push(Buffer.from(CHUNK.subarray(0, n)))
        if (n < want) return take(Buffer.concat(parts))
      }
    } finally {
      fs.closeSync(fd)
    }
  }

  /**
   * Opens a file inside the root, or null when it is absent. On a snapshot the directories are
   * resolved by this reader and the file opened with O_NOFOLLOW: a final symlink (ELOOP) is
   * resolved inside the root and the open tried again on its target.
   */
  private open(hostPath: string, flags: number): number | null {
    if (this.isLive) return absentAsNull(() => fs.openSync(hostPath, flags))
    const seen = {links: 0}
    let target = this.resolveParent(hostPath, seen)
    for (;;) {
      if (target === null) return null
      const onDisk = this.dir + target
      const fd = withoutStack(() => {
        try {
          return fs.openSync(onDisk, flags | fs.constants.O_NOFOLLOW)
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code
          if (code === 'ENOENT' || code === 'ENOTDIR') return null
          if (code === 'ELOOP') return 'link' as const
          throw error
        }
      })
      if (fd !== 'link') return fd
      if (++seen.links > MAX_LINKS) throw this.loop(hostPath)
      const link = this.readLinkAt(target)
      if (link === null) return null
      target = this.follow(parentOf(target), link, seen, hostPath)
    }
  }

  /** Entry names of a directory, sorted; empty when it does not exist. */
  list(hostPath: string): string[] {
    const dir = this.isLive ? hostPath : this.resolve(hostPath)
    if (dir === null) return []
    const names = absentAsNull(() => fs.readdirSync(this.abs(dir)))
    if (names === null) return []
    // A name that is not UTF-8 comes back with U+FFFD in it and cannot be named again.
    const named = names.filter((n) => !n.includes('\uFFFD'))
    if (named.length < names.length) {
      this.warn(
        `${printable(hostPath)}: skipped ${names.length - named.length} name(s) that are not valid UTF-8.`,
      )
    }
    return named.sort()
  }

  exists(hostPath: string): boolean {
    return this.lstat(hostPath) !== null
  }

  /** What is at a path without following a final symlink, or null when nothing is. */
  entryType(hostPath: string): 'file' | 'dir' | 'link' | 'other' | null {
    const st = this.lstat(hostPath)
    if (st === null) return null
    return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other'
  }

  isDirectory(hostPath: string): boolean {
    return this.stat(hostPath)?.isDirectory() ?? false
  }

  /** What is at a path, a final symlink followed inside the root; null when nothing is. */
  stat(hostPath: string): fs.Stats | null {
    const target = this.isLive ? hostPath : this.resolve(hostPath)
    return target === null ? null : lstatOrNull(this.abs(target), !this.isLive)
  }

  /** What is at a path without following a final symlink; null when nothing is. */
  private lstat(hostPath: string): fs.Stats | null {
    const target = this.isLive ? hostPath : this.resolveParent(hostPath)
    return target === null ? null : lstatOrNull(this.abs(target), true)
  }

  /** A symlink's target as written, or null when it is not a symlink. */
  readLink(hostPath: string): string | null {
    const target = this.isLive ? hostPath : this.resolveParent(hostPath)
    return target === null ? null : this.readLinkAt(target)
  }

  /** readlink(2) of a path already resolved (a live host path, or a physical one under the root). */
  private readLinkAt(target: string): string | null {
    return withoutStack(() => {
      try {
        return fs.readlinkSync(this.abs(target))
      } catch {
        return null
      }
    })
  }

  /** The last component of a symlink's target: the driver behind `driver`, the group behind `iommu_group`. */
  linkName(hostPath: string): string | null {
    const target = this.readLink(hostPath)
    return target === null ? null : path.posix.basename(target)
  }

  /**
   * The host path a symlink leads to, every link on the way followed inside the root. Null when
   * it is not a link. A target that does not exist is resolved as far as it does and the rest
   * taken as written (`..` still stopped at the root).
   */
  resolveLink(hostPath: string): string | null {
    const link = this.readLink(hostPath)
    if (link === null) return null
    const from = parentOf(hostPath)
    if (this.isLive) return path.posix.resolve(from, link)
    const dir = this.resolve(from)
    return dir === null ? null : this.follow(dir, link, {links: 1}, hostPath, true)
  }

  /**
   * Writes a sysfs attribute in one write(2), as the kernel's store functions expect; the
   * kernel's answer (EINVAL, EBUSY, ENODEV, ...) is thrown as the Node error it becomes. The file
   * is resolved inside the root like a read, never created, and must be a regular file.
   */
  write(hostPath: string, value: string): void {
    const fd = this.open(hostPath, WRITE_FLAGS)
    if (fd === null) {
      throw Object.assign(new Error(`ENOENT: no such file, open '${this.abs(hostPath)}'`), {
        code: 'ENOENT',
        path: this.abs(hostPath),
      })
    }
    // A write changes the tree (a driver link, a group's type): what was resolved may be stale.
    this.resolved.clear()
    try {
      const st = fs.fstatSync(fd)
      if (!st.isFile())
        throw this.refused('NOT_A_FILE', hostPath, `is ${describeType(st)}, not a regular file`)
      fs.writeSync(fd, value)
    } finally {
      fs.closeSync(fd)
    }
  }

  /** The physical host path of a path, a final symlink followed; null when something on the way is absent. */
  private resolve(hostPath: string, seen = {links: 0}, asked = hostPath): string | null {
    const cached = this.resolved.get(hostPath)
    if (cached !== undefined) return cached
    const slash = hostPath.lastIndexOf('/')
    const dir = slash <= 0 ? '/' : this.resolve(hostPath.slice(0, slash), seen, asked)
    if (dir === null) return null
    const real = this.step(dir, hostPath.slice(slash + 1), seen, asked, false)
    if (real !== null) this.resolved.set(hostPath, real)
    return real
  }

  /**
   * The path with its directories resolved and its last component left as it is (what lstat,
   * readlink and an O_NOFOLLOW open act on); null when a directory on the way is absent.
   */
  private resolveParent(hostPath: string, seen = {links: 0}): string | null {
    const slash = hostPath.lastIndexOf('/')
    const name = hostPath.slice(slash + 1)
    const dir = slash <= 0 ? '/' : this.resolve(hostPath.slice(0, slash), seen, hostPath)
    if (dir === null) return null
    // `.`, `..` and an empty name are resolved here: the operating system would take `..` above the root.
    if (name === '' || name === '.' || name === '..') return this.step(dir, name, seen, hostPath, false)
    return dir === '/' ? `/${name}` : `${dir}/${name}`
  }

  /**
   * One component from a physical directory: `..` stops at the root, a symlink is followed
   * inside it. Null when the entry is absent (or lenient is false and a link leads nowhere).
   */
  private step(
    dir: string,
    name: string,
    seen: {links: number},
    asked: string,
    lenient: boolean,
  ): string | null {
    if (name === '' || name === '.') return dir
    if (name === '..') return parentOf(dir)
    const candidate = dir === '/' ? `/${name}` : `${dir}/${name}`
    const cached = this.resolved.get(candidate)
    if (cached !== undefined) return cached
    const st = lstatOrNull(this.dir + candidate, true)
    if (st === null) return lenient ? candidate : null
    if (!st.isSymbolicLink()) {
      this.resolved.set(candidate, candidate)
      return candidate
    }
    if (++seen.links > MAX_LINKS) throw this.loop(asked)
    const link = this.readLinkAt(candidate)
    if (link === null) return null
    const real = this.follow(dir, link, seen, asked, lenient)
    if (real !== null) this.resolved.set(candidate, real)
    return real
  }

  /** A link's target resolved from the physical directory the link is in; absolute targets start at the root. */
  private follow(
    dir: string,
    link: string,
    seen: {links: number},
    asked: string,
    lenient = false,
  ): string | null {
    let at: string | null = link.startsWith('/') ? '/' : dir
    for (const name of link.split('/')) {
      at = this.step(at, name, seen, asked, lenient)
      if (at === null) return null
    }
    return at
  }

  private refused(code: string, hostPath: string, why: string, errno?: string): IommuctlError {
    return new IommuctlError(code, `${this.describe(hostPath)} ${why}: not reading it.`, {
      path: hostPath,
      errno,
      suggestion: this.isLive
        ? undefined
        : `This root (${printable(this.source)}) was not made by \`iommuctl snapshot\` or was changed since: take a new snapshot.`,
    })
  }

  private tooLarge(hostPath: string, limit: number, kind: string): IommuctlError {
    return this.refused(
      'FILE_TOO_LARGE',
      hostPath,
      `is larger than ${limit} bytes, the most ${kind} can hold`,
      'EFBIG',
    )
  }

  private loop(hostPath: string): IommuctlError {
    return this.refused('LINK_LOOP', hostPath, `goes through more than ${MAX_LINKS} symlinks`, 'ELOOP')
  }

  /** A host path as messages name it: with the root it is under, unless that is the live host. */
  private describe(hostPath: string): string {
    return this.isLive ? printable(hostPath) : `${printable(hostPath)} (under ${printable(this.source)})`
  }

  /**
   * The snapshot manifest, validated against schemas/manifest.json; null when there is none.
   * Throws a BAD_ROOT usage error for one that is too large, not JSON, or not a manifest.
   */
  private readManifest(): SnapshotManifest | null {
    const bad = (why: string) =>
      new IommuctlError('BAD_ROOT', `${MANIFEST_NAME} ${why}`, {
        exit: ExitCode.usage,
        path: this.source,
        suggestion: 'Take the snapshot again with `iommuctl snapshot`.',
      })
    let text: string | null
    try {
      text = this.readText(`/${MANIFEST_NAME}`)
    } catch (error) {
      throw bad(`cannot be read: ${(error as Error).message}`)
    }
    if (text === null) return null
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw bad(`is not JSON: ${(error as Error).message}`)
    }
    const format = (parsed as {format?: unknown} | null)?.format
    if (format !== 1) {
      throw bad(
        `has format ${printable(JSON.stringify(format) ?? 'none')}, and this iommuctl reads format 1 only.`,
      )
    }
    const e = schemaValidators('manifest').whole(parsed)
    const problem = e && `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`
    if (problem) throw bad(`is not a valid snapshot manifest: ${printable(problem)}.`)
    return parsed as SnapshotManifest
  }

  /** A /dev node as the host has it: from the manifest for a snapshot, from stat otherwise. */
  devNode(hostPath: string): DevNode | null {
    if (this.manifest) return this.manifest.devNodes.find((n) => n.path === hostPath) ?? null
    const st = this.stat(hostPath)
    if (st === null) return null
    const type: DevNodeType = st.isCharacterDevice()
      ? 'char'
      : st.isBlockDevice()
        ? 'block'
        : st.isFile()
          ? 'file'
          : 'other'
    const device = type === 'char' || type === 'block'
    return {
      path: hostPath,
      type,
      mode: '0' + (st.mode & 0o7777).toString(8).padStart(3, '0'),
      uid: st.uid,
      gid: st.gid,
      owner: this.nameOf('/etc/passwd', st.uid),
      group: this.nameOf('/etc/group', st.gid),
      major: device ? Math.floor(st.rdev / 256) & 0xfff : null,
      minor: device ? (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) : null,
    }
  }

  /** The name for a numeric id in /etc/passwd or /etc/group under this root. */
  private nameOf(file: string, id: number): string | null {
    const text = this.readText(file)
    if (text === null) return null
    for (const line of text.split('\n')) {
      const fields = line.split(':')
      if (fields[2] === String(id)) return fields[0] ?? null
    }
    return null
  }
}

/** A call's result, or null when it failed because the path is absent; other errors propagate. */
function absentAsNull<T>(call: () => T): T | null {
  return withoutStack(() => {
    try {
      return call()
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT' || code === 'ENOTDIR') return null
      throw error
    }
  })
}

/**
 * Runs a call whose failure is routine in sysfs (an attribute or link a device does not have)
 * with no stack captured for the error Node makes: the stack is most of what a failed call costs,
 * thousands of times on a large host (bench/inspect.js). Errors that propagate carry the message,
 * code and path, which is what iommuctl reports.
 */
function withoutStack<T>(call: () => T): T {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return call()
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** The directory part of a physical host path; / for / itself (`..` stops at the root). */
function parentOf(hostPath: string): string {
  const slash = hostPath.lastIndexOf('/')
  return slash <= 0 ? '/' : hostPath.slice(0, slash)
}

/** lstat (or stat, following links, on the live host), null when nothing is there. */
function lstatOrNull(onDisk: string, noFollow: boolean): fs.Stats | null {
  return withoutStack(() => {
    try {
      return (
        (noFollow
          ? fs.lstatSync(onDisk, {throwIfNoEntry: false})
          : fs.statSync(onDisk, {throwIfNoEntry: false})) ?? null
      )
    } catch {
      return null
    }
  })
}

/** What a file that is not a regular one is, in words: "a directory", "a symbolic link", "a FIFO". */
export function describeType(st: fs.Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link'
  if (st.isDirectory()) return 'a directory'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  if (st.isFIFO()) return 'a FIFO'
  if (st.isSocket()) return 'a socket'
  return 'not a regular file'
}
