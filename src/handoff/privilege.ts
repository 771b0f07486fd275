// Running the child unprivileged: who it runs as, and how. Node's spawn({uid, gid}) cannot do it
// (libuv calls setgroups(0, NULL): no supplementary groups, so no kvm group for /dev/kvm), so the
// child is started through util-linux's setpriv, which sets the supplementary groups, then the
// gid, then the uid, and execs the command. RLIMIT_MEMLOCK is raised in iommuctl itself before
// the spawn (src/native/socket.ts: setMemlockLimit): limits are inherited across fork and exec,
// so the child has it from its first instruction, with no race against its first pin.
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'

import {ExitCode, IommuctlError} from '../errors.js'
import {parseSize} from '../model/units-of-measure.js'

export interface ChildUser {
  name: string
  uid: number
  /** The user's primary group, from its passwd entry. */
  gid: number
  /** Supplementary groups (--group), by name and id. */
  groups: {name: string; gid: number}[]
}

/** RLIM_INFINITY. */
export const UNLIMITED = 2n ** 64n - 1n

/** A --memlock size: 256M, 1G, a byte count, or unlimited. */
export function parseMemlock(text: string): bigint {
  if (text === 'unlimited') return UNLIMITED
  try {
    const bytes = parseSize(text)
    if (bytes > 0n) return bytes
  } catch {
    // reported below
  }
  throw new IommuctlError('USAGE', `--memlock ${JSON.stringify(text)} is not a size.`, {
    exit: ExitCode.usage,
    suggestion: 'A byte count with K, M or G (binary), e.g. --memlock 4G, or unlimited.',
  })
}

/** getent DATABASE KEY: the entry's fields, or null when there is none. */
function getent(database: 'passwd' | 'group', key: string): string[] | null {
  try {
    const line = execFileSync('getent', [database, key], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    return line.split('\n')[0]!.split(':')
  } catch (error) {
    // getent exits 2 for a key that is not there.
    if ((error as {status?: number}).status === 2) return null
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new IommuctlError(
        'TOOL_MISSING',
        'getent is not installed: iommuctl looks users and groups up with it.',
        {
          exit: ExitCode.unavailable,
          suggestion: 'Install libc-bin (Debian) or glibc-common, or give numeric ids.',
        },
      )
    throw error
  }
}

/** Looks the user and the groups up (names or numeric ids, through NSS): a usage error if one is unknown. */
export function resolveUser(user: string, groups: readonly string[]): ChildUser {
  const pw = getent('passwd', user)
  if (!pw)
    throw new IommuctlError(
      'UNKNOWN_USER',
      `There is no user ${user} on this host (getent passwd ${user}).`,
      {
        exit: ExitCode.usage,
        suggestion: 'Name an existing user, e.g. --user nobody, or create one for the VMM.',
      },
    )
  const resolved = groups.map((g) => {
    const gr = getent('group', g)
    if (!gr)
      throw new IommuctlError('UNKNOWN_GROUP', `There is no group ${g} on this host (getent group ${g}).`, {
        exit: ExitCode.usage,
        suggestion: 'Name an existing group: /dev/kvm is usually group kvm.',
      })
    return {name: gr[0]!, gid: Number(gr[2])}
  })
  return {name: pw[0]!, uid: Number(pw[2]), gid: Number(pw[3]), groups: resolved}
}

const SETPRIV_PLACES = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv']

/** util-linux's setpriv, or an error saying how to get it. */
export function findSetpriv(): string {
  const found = SETPRIV_PLACES.find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
  if (!found)
    throw new IommuctlError(
      'TOOL_MISSING',
      `--user needs util-linux's setpriv (looked in ${SETPRIV_PLACES.join(', ')}): it sets the supplementary groups, gid and uid of the child, which Node cannot.`,
      {exit: ExitCode.unavailable, suggestion: 'Install util-linux, or run the VMM as root without --user.'},
    )
  return found
}

/** The argv prefix that runs a command as `u`: supplementary groups, then gid, then uid. */
export function setprivArgv(setpriv: string, u: ChildUser): string[] {
  return [
    setpriv,
    `--reuid=${u.uid}`,
    `--regid=${u.gid}`,
    u.groups.length ? `--groups=${u.groups.map((g) => g.gid).join(',')}` : '--clear-groups',
    '--',
  ]
}

/** RLIMIT_MEMLOCK of this process (soft, hard), from /proc/self/limits; null for unlimited. */
export function memlockNow(): {soft: bigint | null; hard: bigint | null} {
  const m = /^Max locked memory\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))
  const value = (s: string | undefined) => (!s || s === 'unlimited' ? null : BigInt(s))
  return {soft: value(m?.[1]), hard: value(m?.[2])}
}
