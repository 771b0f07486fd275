import * as fs from 'node:fs'
import * as path from 'node:path'

/** One read buffer for every attribute this process reads (sysfs attributes are at most a page). */
const CHUNK = Buffer.allocUnsafe(64 * 1024)

/** Name of the file that marks a tree as a snapshot and carries what sysfs cannot hold. */
export const MANIFEST_NAME = 'iommuctl-snapshot.json'

export type DevNodeType = 'char' | 'block' | 'file' | 'other'

/** What a snapshot records of a /dev node: regular files cannot stand in for device nodes. */
export interface DevNode {
  path: string
  type: DevNodeType
  mode: string
  uid: number
  gid: number
  owner: string | null
  group: string | null
  major: number | null
  minor: number | null
}

export interface Unreadable {
  path: string
  reason: string
}

export interface SnapshotManifest {
  format: 1
  tool: string
  capturedAt: string
  kernel: string | null
  privileged: boolean
  devNodes: DevNode[]
  unreadable: Unreadable[]
}

/** A raw (unvalidated) host root: a host's /, a snapshot directory, or an extracted snapshot. */
export class Root {
  readonly manifest: SnapshotManifest | null

  /**
   * @param dir where the tree is on disk
   * @param source what the user named (a .tar.gz is unpacked elsewhere); dir by default
   */
  constructor(
    readonly dir: string,
    readonly source: string = dir,
  ) {
    this.manifest = readManifest(dir)
  }

  get isSnapshot(): boolean {
    return this.manifest !== null
  }

  /** The on-disk path of a host path such as /sys/kernel/iommu_groups (host paths are absolute). */
  abs(hostPath: string): string {
    return this.dir === '/' ? hostPath : this.dir + hostPath
  }

  /**
   * File contents, or null when the file does not exist. Other errors propagate. Reads until a
   * short read: a sysfs attribute comes whole in one read, so this takes open, read and close
   * where readFileSync adds an fstat and a read at EOF (bench/inspect.js).
   */
  readBytes(hostPath: string): Buffer | null {
    // CHUNK is reused by the next read: the caller gets a copy.
    return this.read(hostPath, (bytes) => Buffer.from(bytes))
  }

  /** A sysfs attribute as trimmed text, or null when absent. */
  readText(hostPath: string): string | null {
    // Decoded straight from CHUNK: no copy of the bytes for the garbage collector.
    return this.read(hostPath, (bytes) => bytes.toString('utf8').trim())
  }

  /** Reads a file and hands its bytes to take before the next read can overwrite them. */
  private read<T>(hostPath: string, take: (bytes: Buffer) => T): T | null {
    const fd = absentAsNull(() => fs.openSync(this.abs(hostPath), 'r'))
    if (fd === null) return null
    try {
      const parts: Buffer[] = []
      for (;;) {
        const n = fs.readSync(fd, CHUNK, 0, CHUNK.length, null)
        if (n < CHUNK.length && parts.length === 0) return take(CHUNK.subarray(0, n))
        parts.push(Buffer.from(CHUNK.subarray(0, n)))
        if (n < CHUNK.length) return take(Buffer.concat(parts))
      }
    } finally {
      fs.closeSync(fd)
    }
  }

  /** Entry names of a directory, sorted; empty when it does not exist. */
  list(hostPath: string): string[] {
    return absentAsNull(() => fs.readdirSync(this.abs(hostPath)))?.sort() ?? []
  }

  exists(hostPath: string): boolean {
    try {
      fs.lstatSync(this.abs(hostPath))
      return true
    } catch {
      return false
    }
  }

  /** What is at a path without following a final symlink, or null when nothing is. */
  entryType(hostPath: string): 'file' | 'dir' | 'link' | 'other' | null {
    try {
      const st = fs.lstatSync(this.abs(hostPath))
      return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other'
    } catch {
      return null
    }
  }

  isDirectory(hostPath: string): boolean {
    try {
      return fs.statSync(this.abs(hostPath)).isDirectory()
    } catch {
      return false
    }
  }

  /** A symlink's target as written, or null when it is not a symlink. */
  readLink(hostPath: string): string | null {
    return withoutStack(() => {
      try {
        return fs.readlinkSync(this.abs(hostPath))
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
   * The host path a symlink points to, resolved textually inside the root (sysfs links are
   * relative). Null when it is not a link or would leave the root.
   */
  resolveLink(hostPath: string): string | null {
    const target = this.readLink(hostPath)
    if (target === null) return null
    const resolved = path.posix.resolve(path.posix.dirname(hostPath), target)
    return resolved.startsWith('/') ? resolved : null
  }

  /**
   * Writes a sysfs attribute in one write(2), as the kernel's store functions expect; the
   * kernel's answer (EINVAL, EBUSY, ENODEV, ...) is thrown as the Node error it becomes.
   */
  write(hostPath: string, value: string): void {
    // O_WRONLY alone: bind and unbind are write-only, and nothing here should create a file.
    const fd = fs.openSync(this.abs(hostPath), fs.constants.O_WRONLY)
    try {
      fs.writeSync(fd, value)
    } finally {
      fs.closeSync(fd)
    }
  }

  /** A /dev node as the host has it: from the manifest for a snapshot, from stat otherwise. */
  devNode(hostPath: string): DevNode | null {
    if (this.manifest) return this.manifest.devNodes.find((n) => n.path === hostPath) ?? null
    let st: fs.Stats
    try {
      st = fs.statSync(this.abs(hostPath))
    } catch {
      return null
    }
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

function readManifest(dir: string): SnapshotManifest | null {
  let text: string
  try {
    text = fs.readFileSync(path.join(dir, MANIFEST_NAME), 'utf8')
  } catch {
    return null
  }
  const parsed = JSON.parse(text) as SnapshotManifest
  return parsed.format === 1 ? parsed : null
}
