import {Chalk, supportsColor} from 'chalk'
import Table from 'cli-table3'

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
  for (const row of rows) t.push(row.map((c) => (c === null || c === undefined ? '-' : String(c))))
  return t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
}

/** Key/value lines for `show` commands: aligned keys, one fact per line. */
export function fields(pairs: [string, string | number | boolean | null | undefined][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length))
  return pairs
    .map(
      ([k, v]) =>
        `${k.padEnd(width)}  ${v === null || v === undefined ? '-' : typeof v === 'boolean' ? (v ? 'yes' : 'no') : v}`,
    )
    .join('\n')
}
