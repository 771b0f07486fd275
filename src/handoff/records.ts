// What exec and fds print for scripts (--json; exec and fds receive write it to stderr, since
// stdout belongs to the child). scripts/schemas.js makes schemas/ from these types.
import {ChildExit} from './child.js'
import {HandoffDevice} from './devices.js'
import {FdsHeader} from './fds.js'
import {CheckStep, RlimitMode} from './open.js'
import {ChildUser} from './privilege.js'

/** How the child was started, and how it ended. */
export interface ChildRecord {
  /** The user it ran as (--user), or null for iommuctl's own. */
  user: ChildUser | null
  /** RLIMIT_MEMLOCK it was given (--memlock), bytes; null when it inherited iommuctl's. */
  memlock: number | 'unlimited' | null
  /** CMD as given. */
  command: string[]
  /** What --qemu or --cloud-hypervisor appended to it. */
  appended: string[]
  env: {IOMMUCTL_IOMMUFD_FD: string; IOMMUCTL_DEVICE_FDS: string}
  child: ChildExit
}

/** `iommuctl exec --json`, on stderr once the child has exited. */
export interface ExecRecord extends ChildRecord {
  iommufd: {path: '/dev/iommu'; fd: number}
  rlimitMode: RlimitMode
  devices: HandoffDevice[]
  /** The --check proof, step by step; null without --check. */
  check: CheckStep[] | null
}

/** `iommuctl exec --print-args --json`. */
export interface ExecArgsRecord {
  devices: HandoffDevice[]
  args: string[]
}

/** `iommuctl fds send --json`. */
export interface FdsSendRecord {
  socket: string
  header: FdsHeader
  /** Bytes of the header the kernel took with the descriptors. */
  bytes: number
  rlimitMode: RlimitMode
  devices: HandoffDevice[]
  check: CheckStep[] | null
}

/** `iommuctl fds receive --json`, on stderr once the child has exited. */
export interface FdsReceiveRecord extends ChildRecord {
  socket: string
  /** The sender, as the kernel recorded it when it connected (SO_PEERCRED). */
  peer: {pid: number; uid: number; gid: number}
  header: FdsHeader
}
