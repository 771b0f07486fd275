import {Chalk, supportsColor} from 'chalk'
import Table from 'cli-table3'

import {printable} from '../printable.js'

/**
 * The one chalk instance: colour only when stdout is a terminal and NO_COLOR is unset
 * (https://no-color.org; chalk's own detection ignores NO_COLOR).
 */
export const colour = new Chalk({
  level:
    process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== ''
      ? 0
      : supportsColor
        ? supportsColor.level
        : 0,
})

export type Result = 'pass' | 'warn' | 'fail' | 'skip'

export function result(r: Result): string {
  const paint = {pass: colour.green, warn: colour.yellow, fail: colour.red.bold, skip: colour.dim}[r]
  return paint(r.toUpperCase())
}

export const dim = (s: string) => colour.dim(s)
export const bold = (s: string) => colour.bold(s)

/** A colour or weight as chalk writes it (SGR: ESC [ params m): it can change no more than how text looks. */
// eslint-disable-next-line no-control-regex -- an escape sequence starts with one
const SGR = /(\x1b\[[0-9;]*m)/

/**
 * A table cell or field value made safe for a terminal: every value comes through here, and much
 * of what they hold comes from a root (names, attributes, link targets), which may be anyone's.
 * Control characters are escaped (printable); the colour codes of this module's own chalk are
 * kept when colour is on, which is the one thing a root could add here too: colour, never
 * cursor movement, erasure or a window title.
 */
export function safe(text: string): string {
  if (colour.level === 0) return printable(text)
  return text
    .split(SGR)
    .map((part, i) => (i % 2 === 1 ? part : printable(part)))
    .join('')
}

/** A borderless table, aligned like ps or kubectl output: easy to read, easy to grep. */
export function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const t = new Table({
    head: head.map((h) => colour.bold(h)),
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: {head: [], border: [], 'padding-left': 0, 'padding-right': 0},
    wordWrap: false,
  })
  for (const row of rows) t.push(row.map((c) => (c === null || c === undefined ? '-' : safe(String(c)))))
  return t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
}

/**
 * Key/value lines for `show` commands: aligned keys, one fact per line, escaped as table cells
 * are, except that a value keeps its line breaks (domains show lists mappings one per line).
 */
export function fields(pairs: [string, string | number | boolean | null | undefined][]): string {
  const safePairs = pairs.map(([k, v]) => [safe(k), v] as const)
  const width = Math.max(...safePairs.map(([k]) => k.length))
  return safePairs
    .map(
      ([k, v]) =>
        `${k.padEnd(width)}  ${v === null || v === undefined ? '-' : typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v).split('\n').map(safe).join('\n')}`,
    )
    .join('\n')
}
