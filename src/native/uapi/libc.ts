// Mirrors glibc's <sys/socket.h>, <sys/un.h>, <sys/uio.h>, <poll.h>, <sys/resource.h> and <fcntl.h> on
// x86_64 (with _GNU_SOURCE, for struct ucred): what passing descriptors over a Unix socket
// (SCM_RIGHTS), raising RLIMIT_MEMLOCK and keeping descriptors from a child need. Pointers are u64 members holding an address
// (NativeMemory.address); socklen_t is u32, size_t u64, char s8 (signed on x86_64).
import {defineStruct} from '../layout.js'

export const AF_UNIX = 1
export const SOCK_STREAM = 1
export const SOCK_CLOEXEC = 0o2000000
export const SOL_SOCKET = 1
export const SO_PEERCRED = 17
export const SCM_RIGHTS = 1
export const MSG_NOSIGNAL = 0x4000
export const MSG_CTRUNC = 0x8
export const MSG_TRUNC = 0x20
export const MSG_CMSG_CLOEXEC = 0x40000000
export const POLLIN = 0x1
export const RLIMIT_MEMLOCK = 8
export const F_GETFD = 1
export const F_SETFD = 2
export const FD_CLOEXEC = 1

export const iovec = defineStruct('iovec', [
  ['iov_base', 'u64'],
  ['iov_len', 'u64'],
])

export const msghdr = defineStruct('msghdr', [
  ['msg_name', 'u64'],
  ['msg_namelen', 'u32'],
  ['msg_iov', 'u64'],
  ['msg_iovlen', 'u64'],
  ['msg_control', 'u64'],
  ['msg_controllen', 'u64'],
  ['msg_flags', 's32'],
])

/** A control message header; its data (here: an array of int descriptors) follows at CMSG_DATA. */
export const cmsghdr = defineStruct('cmsghdr', [
  ['cmsg_len', 'u64'],
  ['cmsg_level', 's32'],
  ['cmsg_type', 's32'],
  ['__cmsg_data', 'u8', 0],
])

export const sockaddr_un = defineStruct('sockaddr_un', [
  ['sun_family', 'u16'],
  ['sun_path', 's8', 108],
])

export const ucred = defineStruct('ucred', [
  ['pid', 's32'],
  ['uid', 'u32'],
  ['gid', 'u32'],
])

export const pollfd = defineStruct('pollfd', [
  ['fd', 's32'],
  ['events', 's16'],
  ['revents', 's16'],
])

export const rlimit = defineStruct('rlimit', [
  ['rlim_cur', 'u64'],
  ['rlim_max', 'u64'],
])
