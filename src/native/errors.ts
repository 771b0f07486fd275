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
