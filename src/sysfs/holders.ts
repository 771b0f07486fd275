// Which processes hold a device open, from the links in /proc/PID/fd: the only place the kernel
// says so. A live host's answer only: a snapshot holds no descriptors.
import * as fs from 'node:fs'
import * as path from 'node:path'

/** A process that has one of a device's nodes open. */
export interface Holder {
  pid: number
  /** /proc/PID/comm; "?" when the process went away before it was read. */
  command: string
  /** What it holds open: the cdev, the group node or a file of the device in sysfs. */
  path: string
}

export interface HolderScan {
  holders: Holder[]
  /** Processes whose descriptors this user may not read (not root, or another user's). */
  denied: number
  /** Whether a bound was reached (processes or descriptors of one process), so the answer may be short. */
  truncated: boolean
}

/** Bounds on one scan: more processes than a kernel's pid_max default, more fds than most limits allow. */
export const HOLDER_SCAN_LIMITS = {processes: 1 << 22, fdsPerProcess: 1 << 20}

/** TASK_COMM_LEN is 16; a bound on what a hand-made /proc can make this read. */
const COMM_BYTES = 64

export interface HolderScanOptions {
  /** The procfs to read: /proc, or a hand-made tree in a test. */
  proc?: string
  /** A process not to report (this one). */
  self?: number
  limits?: typeof HOLDER_SCAN_LIMITS
}

/**
 * Every process with one of `nodes` open, or a file under one of `dirs` (a device's config or
 * resource files in sysfs). Processes that exit during the scan are passed over; those this
 * user may not look into are counted.
 */
export function scanHolders(
  nodes: readonly string[],
  dirs: readonly string[] = [],
  opts: HolderScanOptions = {},
): HolderScan {
  const proc = opts.proc ?? '/proc'
  const self = opts.self ?? process.pid
  const limits = opts.limits ?? HOLDER_SCAN_LIMITS
  const scan: HolderScan = {holders: [], denied: 0, truncated: false}
  let pids: string[]
  try {
    pids = fs.readdirSync(proc).filter((p) => /^[1-9]\d{0,9}$/.test(p) && Number(p) !== self)
  } catch {
    return scan
  }
  if (pids.length > limits.processes) {
    scan.truncated = true
    pids = pids.slice(0, limits.processes)
  }
  for (const pid of pids) {
    let fds: string[]
    try {
      fds = fs.readdirSync(`${proc}/${pid}/fd`)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EACCES' || code === 'EPERM') scan.denied++
      continue
    }
    if (fds.length > limits.fdsPerProcess) {
      scan.truncated = true
      fds = fds.slice(0, limits.fdsPerProcess)
    }
    for (const fd of fds) {
      let target: string
      try {
        target = fs.readlinkSync(`${proc}/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      if (!nodes.includes(target) && !dirs.some((d) => target.startsWith(d + path.sep))) continue
      scan.holders.push({pid: Number(pid), command: readComm(`${proc}/${pid}/comm`), path: target})
      break
    }
  }
  return scan
}

/** The process's command name, at most COMM_BYTES of it; "?" when it is gone. */
function readComm(file: string): string {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  } catch {
    return '?'
  }
  try {
    const buf = Buffer.alloc(COMM_BYTES)
    const n = fs.readSync(fd, buf, 0, COMM_BYTES, 0)
    return buf.subarray(0, n).toString('utf8').trim() || '?'
  } catch {
    return '?'
  } finally {
    fs.closeSync(fd)
  }
}
