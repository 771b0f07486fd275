import {errnoName} from './libc.js'

/** A failed system call, with the operation it was part of and errno as the kernel set it. */
export class SyscallError extends Error {
  readonly errno: number
  readonly errnoName: string

  constructor(
    readonly op: string,
    errno: number,
  ) {
    super(`${op} failed: ${errnoName(errno)}`)
    this.errno = errno
    this.errnoName = errnoName(errno)
  }
}

/**
 * A call that did part of its work before the kernel refused: `done` of `of` items, as
 * IOMMU_HWPT_INVALIDATE reports the entries it handled (entry_num, written back on failure too).
 */
export class PartialSyscallError extends SyscallError {
  constructor(
    op: string,
    errno: number,
    readonly done: number,
    readonly of: number,
  ) {
    super(op, errno)
    this.message = `${this.message} after handling ${done} of ${of} entries`
  }
}
