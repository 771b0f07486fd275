// The prefixes the kernel log carries in the forms people save it: /dev/kmsg records
// (Documentation/ABI/testing/dev-kmsg: "PRI,SEQ,USEC,FLAGS;message" and " KEY=value" lines),
// dmesg ("[   12.345678] ", -T "[Wed Dec  2 00:25:06 2026] ", -x "kern  :err   : "), and
// journalctl -k ("Dec 02 00:25:06 host kernel: ", -o short-iso, -o short-monotonic). Pure.

export interface LogTime {
  /** Seconds since boot, where the line carries them (kmsg, dmesg, journalctl -o short-monotonic). */
  seconds: number | null
  /** The wall-clock time as the line printed it, where it carries one (dmesg -T, journalctl). */
  wall: string | null
}

export interface LogLine {
  time: LogTime
  /** The kernel's message, without the prefix. */
  text: string
}

const KMSG = /^\d{1,3},\d+,(\d+),[^;]*;/
const MONOTONIC = /^\[\s*(\d+\.\d+)\]\s?/
const DMESG_T = /^\[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\]\s?/
const DMESG_X =
  /^(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|authpriv|ftp|local[0-7])\s*:\s*(?:emerg|alert|crit|err|warn|notice|info|debug)\s*:\s?/
const JOURNAL_SHORT = /^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) \S+ kernel: /
const JOURNAL_ISO = /^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) \S+ kernel: /
const JOURNAL_MONOTONIC = /^\[\s*(\d+\.\d+)\] \S+ kernel: /

/** kmsg escapes every byte it will not print as \xNN (printk's dev_kmsg format). */
const KMSG_ESCAPE = /\\x([0-9a-f]{2})/g

/**
 * One line of a saved or live kernel log, its prefix taken off; null for a kmsg dictionary
 * line (" SUBSYSTEM=pci"), which continues the record before it.
 */
export function parseLogLine(line: string): LogLine | null {
  let m = KMSG.exec(line)
  if (m) {
    const text = line.slice(m[0].length).replace(KMSG_ESCAPE, (_, h: string) => {
      const c = Number.parseInt(h, 16)
      // Keep an escape for control bytes: the message stays one line and printable.
      return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${h}`
    })
    return {time: {seconds: Number(m[1]) / 1e6, wall: null}, text}
  }
  if (line.startsWith(' ') && /^ [A-Z_]+=/.test(line)) return null
  m = JOURNAL_MONOTONIC.exec(line)
  if (m) return {time: {seconds: Number(m[1]), wall: null}, text: line.slice(m[0].length)}
  m = JOURNAL_ISO.exec(line) ?? JOURNAL_SHORT.exec(line)
  if (m) return {time: {seconds: null, wall: m[1]!}, text: line.slice(m[0].length)}
  let rest = line
  const x = DMESG_X.exec(rest)
  if (x) rest = rest.slice(x[0].length)
  m = MONOTONIC.exec(rest)
  if (m) return {time: {seconds: Number(m[1]), wall: null}, text: rest.slice(m[0].length)}
  m = DMESG_T.exec(rest)
  if (m) return {time: {seconds: null, wall: m[1]!}, text: rest.slice(m[0].length)}
  return {time: {seconds: null, wall: null}, text: rest}
}

/**
 * A --since value: seconds since boot ("120", "120.5") or a date and time Date.parse reads
 * ("2026-12-02T00:25:06Z", "2026-12-02 00:25"). Null when it is neither.
 */
export function parseSince(text: string): {seconds: number} | {epochMs: number} | null {
  if (/^\d+(?:\.\d+)?$/.test(text)) return {seconds: Number(text)}
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? null : {epochMs: ms}
}

/** Whether a line's time is at or after --since; a line whose time cannot be compared is not. */
export function atOrAfter(time: LogTime, since: {seconds: number} | {epochMs: number}): boolean {
  if ('seconds' in since) return time.seconds !== null && time.seconds >= since.seconds
  if (time.wall === null) return false
  // journalctl's short form has no year: this year is assumed, as journalctl itself shows it.
  const withYear =
    /^\d{4}-/.test(time.wall) || /\d{4}$/.test(time.wall)
      ? time.wall
      : `${time.wall} ${new Date().getFullYear()}`
  const ms = Date.parse(withYear)
  return !Number.isNaN(ms) && ms >= since.epochMs
}
