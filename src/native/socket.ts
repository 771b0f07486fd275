// Unix stream sockets that carry descriptors (SCM_RIGHTS), and RLIMIT_MEMLOCK: the calls that
// `fds send`, `fds receive` and `exec --memlock` make, and keeping stray descriptors from a child. Every descriptor made here is
// close-on-exec (SOCK_CLOEXEC, MSG_CMSG_CLOEXEC), so none reaches a child by accident; a child
// gets a descriptor only by being handed it at a fixed number.
import * as fs from 'node:fs'

import {SyscallError} from './errors.js'
import {
  accept4,
  fcntlInt,
  getsockopt,
  listen,
  msgCall,
  poll,
  prlimit,
  socket,
  sockaddrCall,
  sysClose,
} from './libc.js'
import {NativeMemory} from './memory.js'
import * as L from './uapi/libc.js'

/** CMSG_LEN(n) and CMSG_SPACE(n) of <sys/socket.h>: a header, then n bytes padded to size_t. */
export const cmsgLen = (n: number) => L.cmsghdr.size + n
export const cmsgSpace = (n: number) => L.cmsghdr.size + Math.ceil(n / 8) * 8

/** The most descriptors one message carries here (the kernel's SCM_MAX_FD is 253). */
export const MAX_FDS = 64
/** sun_path holds 108 bytes, the terminating NUL included. */
export const MAX_SOCKET_PATH = 107

function check(op: string, r: {errno: number; value: number}): number {
  if (r.errno) throw new SyscallError(op, r.errno)
  return r.value
}

function withAddress<T>(path: string, fn: (mem: NativeMemory, len: number) => T): T {
  const bytes = Buffer.from(path, 'utf8')
  if (bytes.length === 0 || bytes.length > MAX_SOCKET_PATH || bytes.includes(0))
    throw new RangeError(`a Unix socket path is 1 to ${MAX_SOCKET_PATH} bytes without NUL: ${path}`)
  const mem = new NativeMemory(L.sockaddr_un.size)
  try {
    L.sockaddr_un.encodeInto(mem.bytes, {sun_family: L.AF_UNIX})
    bytes.copy(mem.bytes, L.sockaddr_un.fields.sun_path.offset)
    return fn(mem, L.sockaddr_un.fields.sun_path.offset + bytes.length + 1)
  } finally {
    mem.free()
  }
}

/** A new AF_UNIX stream socket, close-on-exec. */
export function unixSocket(): number {
  return check('socket(AF_UNIX)', socket(L.AF_UNIX, L.SOCK_STREAM | L.SOCK_CLOEXEC, 0))
}

export function connectUnix(fd: number, path: string): void {
  withAddress(path, (mem, len) => check(`connect ${path}`, sockaddrCall('connect', fd, mem.ptr, len)))
}

export function bindUnix(fd: number, path: string): void {
  withAddress(path, (mem, len) => check(`bind ${path}`, sockaddrCall('bind', fd, mem.ptr, len)))
}

export function listenOn(fd: number, backlog = 1): void {
  check('listen', listen(fd, backlog))
}

/** accept4(SOCK_CLOEXEC): the connection's descriptor. */
export function acceptOn(fd: number): number {
  return check('accept', accept4(fd, L.SOCK_CLOEXEC))
}

/** Waits up to timeoutMs for fd to be readable (or a peer to connect); false on timeout. */
export function waitReadable(fd: number, timeoutMs: number): boolean {
  const mem = new NativeMemory(L.pollfd.size)
  try {
    L.pollfd.encodeInto(mem.bytes, {fd, events: L.POLLIN})
    const r = poll(mem.ptr, 1, timeoutMs)
    if (r.errno === 4) return false // EINTR: a signal; the caller's loop looks again
    return check('poll', r) > 0
  } finally {
    mem.free()
  }
}

/** The peer's pid, uid and gid as the kernel recorded them at connect (SO_PEERCRED). */
export function peerCredentials(fd: number): {pid: number; uid: number; gid: number} {
  const mem = new NativeMemory(L.ucred.size)
  try {
    const len = new NativeMemory(4)
    try {
      len.bytes.writeUInt32LE(L.ucred.size, 0)
      check('getsockopt(SO_PEERCRED)', getsockopt(fd, L.SOL_SOCKET, L.SO_PEERCRED, mem.ptr, len.ptr))
    } finally {
      len.free()
    }
    const c = L.ucred.decode(mem.bytes)
    return {pid: c.pid, uid: c.uid, gid: c.gid}
  } finally {
    mem.free()
  }
}

/**
 * One sendmsg: `data` as the message, `fds` in one SCM_RIGHTS control message. Returns the bytes
 * sent. MSG_NOSIGNAL: a peer that went away is EPIPE, not a SIGPIPE that kills iommuctl.
 */
export function sendFds(fd: number, data: Buffer, fds: readonly number[]): number {
  if (fds.length === 0 || fds.length > MAX_FDS)
    throw new RangeError(`1 to ${MAX_FDS} descriptors per message`)
  const {msghdr, iovec, cmsghdr} = L
  const control = cmsgSpace(4 * fds.length)
  const iovAt = msghdr.size
  const controlAt = iovAt + iovec.size
  const dataAt = controlAt + control
  const mem = new NativeMemory(dataAt + data.length)
  try {
    data.copy(mem.bytes, dataAt)
    iovec.encodeInto(mem.bytes, {iov_base: mem.address + BigInt(dataAt), iov_len: data.length}, iovAt)
    cmsghdr.encodeInto(
      mem.bytes,
      {cmsg_len: cmsgLen(4 * fds.length), cmsg_level: L.SOL_SOCKET, cmsg_type: L.SCM_RIGHTS},
      controlAt,
    )
    fds.forEach((n, i) => mem.bytes.writeInt32LE(n, controlAt + cmsghdr.size + 4 * i))
    msghdr.encodeInto(mem.bytes, {
      msg_iov: mem.address + BigInt(iovAt),
      msg_iovlen: 1,
      msg_control: mem.address + BigInt(controlAt),
      msg_controllen: control,
    })
    return check('sendmsg(SCM_RIGHTS)', msgCall('sendmsg', fd, mem.ptr, L.MSG_NOSIGNAL))
  } finally {
    mem.free()
  }
}

export interface Received {
  data: Buffer
  /** The descriptors of every SCM_RIGHTS message, in order; close-on-exec, owned by the caller. */
  fds: number[]
  /** The kernel cut the message or its descriptors short (MSG_TRUNC, MSG_CTRUNC). */
  truncated: boolean
}

/** One recvmsg of up to maxData bytes and maxFds descriptors (MSG_CMSG_CLOEXEC). */
export function receiveFds(fd: number, maxData: number, maxFds = MAX_FDS): Received {
  const {msghdr, iovec, cmsghdr} = L
  const control = cmsgSpace(4 * maxFds)
  const iovAt = msghdr.size
  const controlAt = iovAt + iovec.size
  const dataAt = controlAt + control
  const mem = new NativeMemory(dataAt + maxData)
  try {
    iovec.encodeInto(mem.bytes, {iov_base: mem.address + BigInt(dataAt), iov_len: maxData}, iovAt)
    msghdr.encodeInto(mem.bytes, {
      msg_iov: mem.address + BigInt(iovAt),
      msg_iovlen: 1,
      msg_control: mem.address + BigInt(controlAt),
      msg_controllen: control,
    })
    const n = check('recvmsg', msgCall('recvmsg', fd, mem.ptr, L.MSG_CMSG_CLOEXEC))
    const head = msghdr.decode(mem.bytes)
    const fds: number[] = []
    // CMSG_FIRSTHDR / CMSG_NXTHDR: each message at a size_t-aligned offset of the control buffer.
    const end = controlAt + Number(head.msg_controllen)
    for (let at = controlAt; at + cmsghdr.size <= end;) {
      const c = cmsghdr.decode(mem.bytes, at)
      const len = Number(c.cmsg_len)
      if (len < cmsghdr.size || at + len > end) break
      if (c.cmsg_level === L.SOL_SOCKET && c.cmsg_type === L.SCM_RIGHTS)
        for (let p = at + cmsghdr.size; p + 4 <= at + len; p += 4) fds.push(mem.bytes.readInt32LE(p))
      at += cmsgSpace(len - cmsghdr.size)
    }
    return {
      data: Buffer.from(mem.bytes.subarray(dataAt, dataAt + n)),
      fds,
      truncated: (head.msg_flags & (L.MSG_TRUNC | L.MSG_CTRUNC)) !== 0,
    }
  } finally {
    mem.free()
  }
}

/** Closes a socket; reports instead of throwing (it runs in cleanup). */
export function closeSocket(fd: number): number {
  return sysClose(fd).errno
}

/** Sets this process's RLIMIT_MEMLOCK, soft and hard, to `bytes`; children inherit it across exec. */
export function setMemlockLimit(bytes: bigint): void {
  const mem = new NativeMemory(L.rlimit.size)
  try {
    L.rlimit.encodeInto(mem.bytes, {rlim_cur: bytes, rlim_max: bytes})
    check('prlimit(RLIMIT_MEMLOCK)', prlimit(0, L.RLIMIT_MEMLOCK, mem.ptr))
  } finally {
    mem.free()
  }
}

/**
 * Marks every descriptor of this process from 3 up close-on-exec, except `keep`. Node's own
 * already are; what this catches is a descriptor iommuctl inherited open from its parent, which
 * would otherwise pass through to the child (setpriv closes nothing).
 */
export function closeOnExecAllBut(keep: readonly number[]): void {
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name)
    if (fd < 3 || keep.includes(fd)) continue
    const flags = fcntlInt(fd, L.F_GETFD, 0)
    // EBADF: the descriptor readdir itself had open, closed since.
    if (flags.errno || flags.value & L.FD_CLOEXEC) continue
    fcntlInt(fd, L.F_SETFD, flags.value | L.FD_CLOEXEC)
  }
}
