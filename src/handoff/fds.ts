// Descriptors over a Unix socket, as kubevirt's iommufd device plugin hands them to its VMM:
// one message, SCM_RIGHTS carrying the iommufd and then each device cdev, and a JSON header
// that names each descriptor in the same order. A receiver in any language reads it with one
// recvmsg (Python: socket.recv_fds(sock, 65536, 64)).
import * as fs from 'node:fs'
import * as path from 'node:path'

import {ExitCode, IommuctlError} from '../errors.js'
import {explain} from '../iommufd/explain.js'
import {SyscallError} from '../native/errors.js'
import * as S from '../native/socket.js'
import {Bdf} from '../records.js'
import {BDF_PATTERN} from '../sysfs/inventory.js'
import {HandoffDevice} from './devices.js'

/** The header's protocol name and version. */
export const FDS_PROTOCOL = 'iommuctl-fds'
/** The largest header a receiver accepts. */
export const MAX_HEADER = 64 << 10

/** One descriptor of a message, in SCM_RIGHTS order. */
export type FdEntry =
  | {
      kind: 'iommufd'
      path: '/dev/iommu'
      /** IOMMU_OPTION_RLIMIT_MODE as set on it: 1 per process, 0 per user. */
      rlimitMode: number
    }
  | {
      kind: 'device'
      bdf: Bdf
      /** /dev/vfio/devices/vfioN. */
      cdev: string
      group: number
    }

/** The JSON that travels with the descriptors: `fds[i]` names the i-th descriptor. */
export interface FdsHeader {
  protocol: 'iommuctl-fds'
  version: 1
  fds: FdEntry[]
}

export function header(devices: readonly HandoffDevice[], rlimitMode: number): FdsHeader {
  return {
    protocol: FDS_PROTOCOL,
    version: 1,
    fds: [
      {kind: 'iommufd', path: '/dev/iommu', rlimitMode},
      ...devices.map((d) => ({kind: 'device' as const, bdf: d.bdf, cdev: d.cdev, group: d.group})),
    ],
  }
}

/** A socket path as the user gave it, checked: absolute or relative, at most 107 bytes. */
export function socketPath(p: string): string {
  if (Buffer.byteLength(p) > S.MAX_SOCKET_PATH || p.includes('\0') || p === '')
    throw new IommuctlError(
      'USAGE',
      `--socket ${p}: a Unix socket path is 1 to ${S.MAX_SOCKET_PATH} bytes.`,
      {
        exit: ExitCode.usage,
      },
    )
  return p
}

/**
 * Connects to the receiver's listening socket, before any device is opened: a socket nobody
 * listens on is refused with nothing opened. Returns the connection, which the caller closes.
 */
export function connectTo(socket: string): number {
  const fd = S.unixSocket()
  try {
    S.connectUnix(fd, socket)
    return fd
  } catch (error) {
    S.closeSocket(fd)
    const e = error as SyscallError
    if (e.errnoName === 'ECONNREFUSED' || e.errnoName === 'ENOENT')
      throw new IommuctlError(
        'NO_LISTENER',
        `Nobody listens on ${socket} (${e.errnoName}): ${e.errnoName === 'ENOENT' ? 'there is no socket there' : 'the socket is there, but no process accepts on it'}. Nothing was opened.`,
        {
          errno: e.errnoName,
          path: socket,
          suggestion: `Start the receiver first, e.g. iommuctl fds receive --socket ${socket} -- CMD.`,
        },
      )
    throw explain(error)
  }
}

/** Sends the descriptors with their header in one message on a connection; returns the bytes sent. */
export function sendDescriptors(conn: number, fds: readonly number[], h: FdsHeader): number {
  try {
    return S.sendFds(conn, Buffer.from(JSON.stringify(h)), fds)
  } catch (error) {
    throw explain(error)
  }
}

/** Closes a connection or a received descriptor; never throws. */
export function closeFd(fd: number): void {
  S.closeSocket(fd)
}

export interface ReceivedDescriptors {
  header: FdsHeader
  /** In header order, close-on-exec, owned by the caller. */
  fds: number[]
  peer: {pid: number; uid: number; gid: number}
}

/**
 * Listens on `socket`, accepts one connection and takes one message. The socket appears at its
 * path only once it listens (bound under a temporary name, chmod 0600, then linked into place:
 * link(2) never replaces what is there), and is removed before this returns. `stopped` says
 * when to give up (a signal); the wait polls so that Node can run its signal handlers.
 */
export async function receiveDescriptors(
  socket: string,
  stopped: () => boolean,
): Promise<ReceivedDescriptors> {
  if (fs.existsSync(socket))
    throw new IommuctlError('SOCKET_EXISTS', `${socket} exists: iommuctl replaces only what it made.`, {
      path: socket,
      suggestion: 'Remove it if it is stale, or name another path.',
    })
  const temp = path.join(path.dirname(socket), `.${path.basename(socket)}.${process.pid}`)
  if (Buffer.byteLength(temp) > S.MAX_SOCKET_PATH)
    throw new IommuctlError(
      'USAGE',
      `--socket ${socket}: too long to listen on (it is bound first as ${temp}, over ${S.MAX_SOCKET_PATH} bytes).`,
      {exit: ExitCode.usage, suggestion: 'Use a shorter path, e.g. under /run.'},
    )
  const listener = S.unixSocket()
  let linked = false
  let conn: number | undefined
  try {
    try {
      S.bindUnix(listener, temp)
      fs.chmodSync(temp, 0o600)
      S.listenOn(listener)
      fs.linkSync(temp, socket)
      linked = true
    } catch (error) {
      throw explain(error)
    } finally {
      fs.rmSync(temp, {force: true})
    }
    await until(listener, stopped)
    conn = S.acceptOn(listener)
    const peer = S.peerCredentials(conn)
    await until(conn, stopped)
    const got = S.receiveFds(conn, MAX_HEADER)
    try {
      return {header: checkHeader(got), fds: got.fds, peer}
    } catch (error) {
      for (const fd of got.fds) closeFd(fd)
      throw error
    }
  } finally {
    if (conn !== undefined) S.closeSocket(conn)
    S.closeSocket(listener)
    if (linked) fs.rmSync(socket, {force: true})
  }
}

async function until(fd: number, stopped: () => boolean): Promise<void> {
  while (!S.waitReadable(fd, 100)) {
    await new Promise((r) => setImmediate(r))
    if (stopped()) throw new IommuctlError('INTERRUPTED', 'Stopped by a signal before anything was received.')
  }
}

function bad(why: string): IommuctlError {
  return new IommuctlError('BAD_MESSAGE', `The peer's message is not an iommuctl-fds hand-off: ${why}.`, {
    suggestion: 'Send with `iommuctl fds send`, or follow schemas/fds-header.json.',
  })
}

/** The header must name, in order, exactly the descriptors that came, and each must be what it says. */
function checkHeader(got: S.Received): FdsHeader {
  if (got.truncated) throw bad('it was cut short (more data or descriptors than one message takes)')
  let h: FdsHeader
  try {
    h = JSON.parse(got.data.toString('utf8')) as FdsHeader
  } catch {
    throw bad('its header is not JSON')
  }
  if (h?.protocol !== FDS_PROTOCOL || h.version !== 1 || !Array.isArray(h.fds))
    throw bad(`its header is not protocol ${FDS_PROTOCOL} version 1`)
  if (h.fds.length !== got.fds.length)
    throw bad(`its header names ${h.fds.length} descriptors and ${got.fds.length} came`)
  h.fds.forEach((e, i) => {
    const fd = got.fds[i]!
    let target = ''
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`)
    } catch {
      // checked below
    }
    if (i === 0) {
      if (e.kind !== 'iommufd' || target !== '/dev/iommu')
        throw bad(`the first descriptor must be /dev/iommu, and it is ${target || 'unreadable'}`)
      return
    }
    if (
      e.kind !== 'device' ||
      typeof e.bdf !== 'string' ||
      !BDF_PATTERN.test(e.bdf) ||
      !/^\/dev\/vfio\/devices\/vfio\d+$/.test(target) ||
      e.cdev !== target
    )
      throw bad(
        `descriptor ${i} must be the VFIO cdev its header names (${JSON.stringify(e)}), and it is ${target}`,
      )
  })
  return h
}
