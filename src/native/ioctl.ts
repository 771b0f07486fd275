import {SyscallError} from './errors.js'
import {AnyStruct, EncodeValues, StructValues} from './layout.js'
import {ioctlInt, ioctlPtr, O_CLOEXEC, O_RDONLY, O_RDWR, sysClose, sysOpen, sysTransfer} from './libc.js'
import {NativeMemory, withMemory} from './memory.js'

/**
 * Native memory for the struct of the ioctl in flight, reused across calls: allocating and
 * freeing per call was most of the cost of an ioctl (bench/map.ts). Safe because every ioctl
 * here is synchronous and none re-enters another.
 */
let scratch: NativeMemory | undefined

function scratchFor(size: number): NativeMemory {
  if (!scratch || scratch.size < size) {
    scratch?.free()
    scratch = new NativeMemory(Math.max(size, 256))
  }
  return scratch
}

/**
 * Issues `request` with a struct encoded into native memory and returns the struct as the
 * kernel left it. Throws SyscallError naming `op` when the kernel refuses.
 */
export function ioctlStruct<S extends AnyStruct>(
  fd: number,
  op: string,
  request: number,
  struct: S,
  values: EncodeValues<StructValues<S>> = {},
): StructValues<S> {
  const mem = scratchFor(struct.size)
  struct.encodeInto(mem.bytes, values)
  const r = ioctlPtr(fd, request, mem.ptr)
  if (r.errno) throw new SyscallError(op, r.errno)
  return struct.decode(mem.bytes) as StructValues<S>
}

/** Issues `request` on raw bytes (tests use it for sizes one byte short or long). Returns errno, 0 on success. */
export function ioctlBytes(fd: number, request: number, bytes: Buffer): {errno: number; out: Buffer} {
  return withMemory(bytes, (mem) => {
    const r = ioctlPtr(fd, request, mem.ptr)
    return {errno: r.errno, out: mem.snapshot()}
  })
}

/**
 * Issues `request` with memory the caller has laid out (structs pointing at other native memory,
 * a C string); returns the kernel's (non-negative) result, a descriptor for some requests.
 */
export function ioctlMemory(fd: number, op: string, request: number, mem: NativeMemory): number {
  const r = ioctlPtr(fd, request, mem.ptr)
  if (r.errno) throw new SyscallError(op, r.errno)
  return r.value
}

/** Issues `request` with an integer argument; returns the kernel's (non-negative) result. */
export function ioctlValue(fd: number, op: string, request: number, arg: number): number {
  const r = ioctlInt(fd, request, arg)
  if (r.errno) throw new SyscallError(op, r.errno)
  return r.value
}

/** Opens a device node read-write and close-on-exec. */
export function openDevice(path: string, mode: 'rw' | 'r' = 'rw'): number {
  const r = sysOpen(path, (mode === 'rw' ? O_RDWR : O_RDONLY) | O_CLOEXEC)
  if (r.errno) throw new SyscallError(`open ${path}`, r.errno)
  return r.value
}

/**
 * One read() of at most `count` bytes from a descriptor (an iommufd fault queue or vEVENTQ);
 * returns what the kernel gave, empty when it had nothing. Throws SyscallError naming `op`.
 */
export function readDescriptor(fd: number, op: string, count: number): Buffer {
  return withMemory(count, (mem) => {
    const r = sysTransfer('read', fd, mem.ptr, count)
    if (r.errno) throw new SyscallError(op, r.errno)
    return mem.snapshot().subarray(0, r.value)
  })
}

/** One write() of `bytes` to a descriptor; returns how many the kernel took. */
export function writeDescriptor(fd: number, op: string, bytes: Buffer): number {
  return withMemory(bytes, (mem) => {
    const r = sysTransfer('write', fd, mem.ptr, bytes.length)
    if (r.errno) throw new SyscallError(op, r.errno)
    return r.value
  })
}

/** Closes a descriptor; reports instead of throwing, since it runs in cleanup. */
export function closeQuietly(fd: number): number {
  return sysClose(fd).errno
}
