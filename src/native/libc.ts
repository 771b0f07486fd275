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

export const O_RDONLY = 0o0
export const O_RDWR = 0o2
export const O_CLOEXEC = 0o2000000

export function sysOpen(path: string, flags: number): SysResult<number> {
  return call('open', DataType.I32, [DataType.String, DataType.I32], [path, flags], negative)
}

export function sysClose(fd: number): SysResult<number> {
  return call('close', DataType.I32, [DataType.I32], [fd], negative)
}

/** ioctl(fd, request, pointer): the kernel reads and writes the struct at `arg`. */
export function ioctlPtr(fd: number, request: number, arg: JsExternal): SysResult<number> {
  return call(
    'ioctl',
    DataType.I32,
    [DataType.I32, DataType.U64, DataType.External],
    [fd, request, arg],
    negative,
  )
}

/** ioctl(fd, request, int): requests whose argument is a plain integer (VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU). */
export function ioctlInt(fd: number, request: number, arg: number): SysResult<number> {
  return call('ioctl', DataType.I32, [DataType.I32, DataType.U64, DataType.I64], [fd, request, arg], negative)
}

/** calloc: zero-filled memory that native code owns, so the kernel can write into it. */
export function calloc(size: number): JsExternal {
  // A null pointer, not errno, says calloc failed (NativeMemory checks): no errno capture.
  return load({
    library: lib(),
    funcName: 'calloc',
    retType: DataType.External,
    paramsType: [DataType.U64, DataType.U64],
    paramsValue: [1, size],
  }) as JsExternal
}

export function free(ptr: JsExternal): void {
  load({
    library: lib(),
    funcName: 'free',
    retType: DataType.Void,
    paramsType: [DataType.External],
    paramsValue: [ptr],
  })
}

/**
 * The numeric address of native memory, for struct fields that carry a user pointer
 * (user_va, data_uptr, allowed_iovas). memset(p, 0, 0) writes nothing and returns p.
 */
export function addressOf(ptr: JsExternal): bigint {
  const r = load({
    library: lib(),
    funcName: 'memset',
    retType: DataType.BigInt,
    paramsType: [DataType.External, DataType.I32, DataType.U64],
    paramsValue: [ptr, 0, 0],
  })
  return BigInt(r as unknown as bigint) & 0xffff_ffff_ffff_ffffn
}

/** The pointer at a numeric address (the inverse of addressOf), through the same memset. */
export function pointerAt(address: bigint): JsExternal {
  return load({
    library: lib(),
    funcName: 'memset',
    retType: DataType.External,
    paramsType: [DataType.BigInt, DataType.I32, DataType.U64],
    paramsValue: [address, 0, 0],
  }) as JsExternal
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
  return call('munmap', DataType.I32, [DataType.BigInt, DataType.U64], [address, length], negative)
}

export const MFD_CLOEXEC = 0x1
/** Back the memfd with huge pages (hugetlbfs, the default huge page size). */
export const MFD_HUGETLB = 0x4

export function memfdCreate(name: string, flags: number): SysResult<number> {
  return call('memfd_create', DataType.I32, [DataType.String, DataType.U32], [name, flags], negative)
}

export function ftruncate(fd: number, length: number): SysResult<number> {
  return call('ftruncate', DataType.I32, [DataType.I32, DataType.I64], [fd, length], negative)
}

// Unix sockets and descriptor passing (src/native/socket.ts). Pointers travel as External.

export function socket(domain: number, type: number, protocol: number): SysResult<number> {
  return call(
    'socket',
    DataType.I32,
    [DataType.I32, DataType.I32, DataType.I32],
    [domain, type, protocol],
    negative,
  )
}

/** bind(fd, addr, len) and connect(fd, addr, len): same signature. */
export function sockaddrCall(
  funcName: 'bind' | 'connect',
  fd: number,
  addr: JsExternal,
  len: number,
): SysResult<number> {
  return call(
    funcName,
    DataType.I32,
    [DataType.I32, DataType.External, DataType.U32],
    [fd, addr, len],
    negative,
  )
}

export function listen(fd: number, backlog: number): SysResult<number> {
  return call('listen', DataType.I32, [DataType.I32, DataType.I32], [fd, backlog], negative)
}

/** accept4 without the peer's address (the caller asks SO_PEERCRED). */
export function accept4(fd: number, flags: number): SysResult<number> {
  return call(
    'accept4',
    DataType.I32,
    [DataType.I32, DataType.BigInt, DataType.BigInt, DataType.I32],
    [fd, 0n, 0n, flags],
    negative,
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
  return call(
    'poll',
    DataType.I32,
    [DataType.External, DataType.U64, DataType.I32],
    [fds, count, timeoutMs],
    negative,
  )
}

/** getsockopt with the option's value and length (a socklen_t) in native memory. */
export function getsockopt(
  fd: number,
  level: number,
  name: number,
  value: JsExternal,
  len: JsExternal,
): SysResult<number> {
  return call(
    'getsockopt',
    DataType.I32,
    [DataType.I32, DataType.I32, DataType.I32, DataType.External, DataType.External],
    [fd, level, name, value, len],
    negative,
  )
}

/** prlimit(pid, resource, new, old); pid 0 is this process, and a null `old` is not read back. */
export function prlimit(pid: number, resource: number, limit: JsExternal): SysResult<number> {
  return call(
    'prlimit',
    DataType.I32,
    [DataType.I32, DataType.I32, DataType.External, DataType.BigInt],
    [pid, resource, limit, 0n],
    negative,
  )
}

export function fcntlInt(fd: number, cmd: number, arg: number): SysResult<number> {
  return call('fcntl', DataType.I32, [DataType.I32, DataType.I32, DataType.I32], [fd, cmd, arg], negative)
}
