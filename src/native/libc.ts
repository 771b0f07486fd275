// The libc calls iommuctl makes, through ffi-rs: the only file that imports it (eslint enforces
// this). Every call that can fail is made with `errno: true`, so errno is captured by ffi-rs in
// the same native call, before any JavaScript runs. Never with runInNewThread: ffi-rs reads
// errno from the wrong thread there (zhangyuang/node-ffi-rs#135).
import {constants} from 'node:os'

import {createExternalBuffer, DataType, JsExternal, load, open as ffiOpen} from 'ffi-rs'

const LIB = 'libc'
let opened = false

function lib(): string {
  if (!opened) {
    // An empty path opens the running process, which links libc.
    ffiOpen({library: LIB, path: ''})
    opened = true
  }
  return LIB
}

/** The outcome of a libc call: its return value and, when it failed, errno. */
export interface SysResult<T> {
  value: T
  /** 0 when the call succeeded. */
  errno: number
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]))

/** EINVAL for 22: the symbolic name of an errno value. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`
}

function call<T>(
  funcName: string,
  retType: DataType,
  paramsType: DataType[],
  paramsValue: unknown[],
  failed: (v: T) => boolean,
): SysResult<T> {
  const r = load({library: lib(), funcName, retType, paramsType, paramsValue, errno: true}) as unknown as {
    value: T
    errnoCode: number
  }
  return {value: r.value, errno: failed(r.value) ? r.errnoCode : 0}
}

const negative = (v: number) => v < 0

/** Most of libc: an int back, negative (-1) with errno set when the call failed. */
function callInt(funcName: string, paramsType: DataType[], paramsValue: unknown[]): SysResult<number> {
  return call(funcName, DataType.I32, paramsType, paramsValue, negative)
}

/** A call that cannot fail, or whose failure is not errno (calloc's null): no errno capture. */
function callPlain(
  funcName: string,
  retType: DataType,
  paramsType: DataType[],
  paramsValue: unknown[],
): unknown {
  return load({library: lib(), funcName, retType, paramsType, paramsValue})
}

export const O_RDONLY = 0o0
export const O_RDWR = 0o2
export const O_CLOEXEC = 0o2000000

export function sysOpen(path: string, flags: number): SysResult<number> {
  return callInt('open', [DataType.String, DataType.I32], [path, flags])
}

export function sysClose(fd: number): SysResult<number> {
  return callInt('close', [DataType.I32], [fd])
}

/**
 * read(fd, buf, count) or write(fd, buf, count): the bytes moved; a read of 0 is nothing there
 * (an iommufd event queue does not block).
 */
export function sysTransfer(
  funcName: 'read' | 'write',
  fd: number,
  buf: JsExternal,
  count: number,
): SysResult<number> {
  return call(
    funcName,
    DataType.I64,
    [DataType.I32, DataType.External, DataType.U64],
    [fd, buf, count],
    negative,
  )
}

/** ioctl(fd, request, pointer): the kernel reads and writes the struct at `arg`. */
export function ioctlPtr(fd: number, request: number, arg: JsExternal): SysResult<number> {
  return callInt('ioctl', [DataType.I32, DataType.U64, DataType.External], [fd, request, arg])
}

/** ioctl(fd, request, int): requests whose argument is a plain integer (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU). */
export function ioctlInt(fd: number, request: number, arg: number): SysResult<number> {
  return callInt('ioctl', [DataType.I32, DataType.U64, DataType.I64], [fd, request, arg])
}

/** calloc: zero-filled memory that native code owns, so the kernel can write into it. */
export function calloc(size: number): JsExternal {
  // A null pointer, not errno, says calloc failed (NativeMemory checks): no errno capture.
  return callPlain('calloc', DataType.External, [DataType.U64, DataType.U64], [1, size]) as JsExternal
}

export function free(ptr: JsExternal): void {
  callPlain('free', DataType.Void, [DataType.External], [ptr])
}

/**
 * The numeric address of native memory, for struct fields that carry a user pointer
 * (user_va, data_uptr, allowed_iovas). memset(p, 0, 0) writes nothing and returns p.
 */
export function addressOf(ptr: JsExternal): bigint {
  const r = callPlain('memset', DataType.BigInt, [DataType.External, DataType.I32, DataType.U64], [ptr, 0, 0])
  return BigInt(r as unknown as bigint) & 0xffff_ffff_ffff_ffffn
}

/** The pointer at a numeric address (the inverse of addressOf), through the same memset. */
export function pointerAt(address: bigint): JsExternal {
  return callPlain(
    'memset',
    DataType.External,
    [DataType.BigInt, DataType.I32, DataType.U64],
    [address, 0, 0],
  ) as JsExternal
}

/** A Buffer that views native memory without copying; valid until the memory is freed. */
export function view(ptr: JsExternal, size: number): Buffer {
  return createExternalBuffer(ptr, size)
}

export const PROT_READ = 0x1
export const PROT_WRITE = 0x2
export const MAP_SHARED = 0x01
export const MAP_PRIVATE = 0x02
export const MAP_ANONYMOUS = 0x20
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn

/** mmap; the address as a bigint, MAP_FAILED (all ones) on failure. */
export function mmap(
  length: number,
  prot: number,
  flags: number,
  fd: number,
  offset: number,
): SysResult<bigint> {
  const r = call<bigint>(
    'mmap',
    DataType.BigInt,
    [DataType.BigInt, DataType.U64, DataType.I32, DataType.I32, DataType.I32, DataType.I64],
    [0n, length, prot, flags, fd, offset],
    (v) => (BigInt(v) & MAP_FAILED) === MAP_FAILED,
  )
  return {value: BigInt(r.value) & MAP_FAILED, errno: r.errno}
}

export function munmap(address: bigint, length: number): SysResult<number> {
  return callInt('munmap', [DataType.BigInt, DataType.U64], [address, length])
}

export const MFD_CLOEXEC = 0x1
/** Back the memfd with huge pages (hugetlbfs, the default huge page size). */
export const MFD_HUGETLB = 0x4

export function memfdCreate(name: string, flags: number): SysResult<number> {
  return callInt('memfd_create', [DataType.String, DataType.U32], [name, flags])
}

export function ftruncate(fd: number, length: number): SysResult<number> {
  return callInt('ftruncate', [DataType.I32, DataType.I64], [fd, length])
}

// Unix sockets and descriptor passing (src/native/socket.ts). Pointers travel as External.

export function socket(domain: number, type: number, protocol: number): SysResult<number> {
  return callInt('socket', [DataType.I32, DataType.I32, DataType.I32], [domain, type, protocol])
}

/** bind(fd, addr, len) and connect(fd, addr, len): same signature. */
export function sockaddrCall(
  funcName: 'bind' | 'connect',
  fd: number,
  addr: JsExternal,
  len: number,
): SysResult<number> {
  return callInt(funcName, [DataType.I32, DataType.External, DataType.U32], [fd, addr, len])
}

export function listen(fd: number, backlog: number): SysResult<number> {
  return callInt('listen', [DataType.I32, DataType.I32], [fd, backlog])
}

/** accept4 without the peer's address (the caller asks SO_PEERCRED). */
export function accept4(fd: number, flags: number): SysResult<number> {
  return callInt(
    'accept4',
    [DataType.I32, DataType.BigInt, DataType.BigInt, DataType.I32],
    [fd, 0n, 0n, flags],
  )
}

/** sendmsg(fd, msg, flags) and recvmsg(fd, msg, flags): the byte count, or -1. */
export function msgCall(
  funcName: 'sendmsg' | 'recvmsg',
  fd: number,
  msg: JsExternal,
  flags: number,
): SysResult<number> {
  return call(
    funcName,
    DataType.I64,
    [DataType.I32, DataType.External, DataType.I32],
    [fd, msg, flags],
    negative,
  )
}

export function poll(fds: JsExternal, count: number, timeoutMs: number): SysResult<number> {
  return callInt('poll', [DataType.External, DataType.U64, DataType.I32], [fds, count, timeoutMs])
}

/** getsockopt with the option's value and length (a socklen_t) in native memory. */
export function getsockopt(
  fd: number,
  level: number,
  name: number,
  value: JsExternal,
  len: JsExternal,
): SysResult<number> {
  return callInt(
    'getsockopt',
    [DataType.I32, DataType.I32, DataType.I32, DataType.External, DataType.External],
    [fd, level, name, value, len],
  )
}

/** prlimit(pid, resource, new, old); pid 0 is this process, and a null `old` is not read back. */
export function prlimit(pid: number, resource: number, limit: JsExternal): SysResult<number> {
  return callInt(
    'prlimit',
    [DataType.I32, DataType.I32, DataType.External, DataType.BigInt],
    [pid, resource, limit, 0n],
  )
}

export function fcntlInt(fd: number, cmd: number, arg: number): SysResult<number> {
  return callInt('fcntl', [DataType.I32, DataType.I32, DataType.I32], [fd, cmd, arg])
}
