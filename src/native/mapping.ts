import {SyscallError} from './errors.js'
import {MAP_ANONYMOUS, MAP_PRIVATE, mmap, munmap, PROT_READ, PROT_WRITE} from './libc.js'

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
