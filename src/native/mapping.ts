import {SyscallError} from './errors.js'
import {closeQuietly, openDevice} from './ioctl.js'
import {
  ftruncate,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MFD_CLOEXEC,
  MFD_HUGETLB,
  memfdCreate,
  mmap,
  munmap,
  PROT_READ,
  PROT_WRITE,
} from './libc.js'

/** Anonymous memory from mmap, for mapping into an IOAS; unmapped exactly once by its owner. */
export class Mapping {
  private mapped = true

  private constructor(
    readonly address: bigint,
    readonly length: bigint,
  ) {}

  static anonymous(length: bigint): Mapping {
    const r = mmap(Number(length), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if (r.errno) throw new SyscallError('mmap', r.errno)
    return new Mapping(r.value, length)
  }

  /** Idempotent; never throws (it runs in cleanup). */
  unmap(): void {
    if (!this.mapped) return
    this.mapped = false
    munmap(this.address, Number(this.length))
  }
}

/**
 * Memory reached through a descriptor, for IOMMU_IOAS_MAP_FILE: a memfd (in huge pages with
 * hugetlb) sized to the length asked for, or a file opened as it is. The one owner of the
 * descriptor: closed exactly once, and on every failure before it is handed out.
 */
export class MemoryFile {
  private open = true

  private constructor(
    readonly fd: number,
    /** What it is, for errors: "memfd", "hugetlbfs memfd", or the file's path. */
    readonly what: string,
  ) {}

  /** memfd_create (close-on-exec, with MFD_HUGETLB for huge pages) then ftruncate to length. */
  static memfd(length: bigint, hugetlb = false): MemoryFile {
    const r = memfdCreate('iommuctl', MFD_CLOEXEC | (hugetlb ? MFD_HUGETLB : 0))
    if (r.errno) throw new SyscallError(`memfd_create${hugetlb ? ' with MFD_HUGETLB' : ''}`, r.errno)
    const file = new MemoryFile(r.value, hugetlb ? 'hugetlbfs memfd' : 'memfd')
    const t = ftruncate(r.value, Number(length))
    if (t.errno) {
      file.close()
      throw new SyscallError(`ftruncate of the ${file.what} to ${length} bytes`, t.errno)
    }
    return file
  }

  /** A file opened read-write, or read-only when the mapping is not writable; close-on-exec. */
  static file(path: string, writable: boolean): MemoryFile {
    return new MemoryFile(openDevice(path, writable ? 'rw' : 'r'), path)
  }

  /** Idempotent; never throws (it runs in cleanup). */
  close(): void {
    if (!this.open) return
    this.open = false
    closeQuietly(this.fd)
  }
}
