import type {DiffReport} from '../model/diff.js'
import {bold, table} from './style.js'

const SIGN = {added: '+', removed: '-', changed: '~', split: '<', merged: '>'} as const

/** `diff`: one line per change, like diff(1) with +, - and ~; then how many. */
export function renderDiff(r: DiffReport): string {
  if (r.same) return `No differences between ${r.a} and ${r.b} in units, groups, devices or status.`
  const rows = r.changes.map((c) => [
    SIGN[c.change],
    c.area,
    c.subject,
    c.field ?? c.change,
    c.before ?? '-',
    c.after ?? '-',
  ])
  return [
    `${bold('a')}: ${r.a}\n${bold('b')}: ${r.b}\n`,
    table(['', 'AREA', 'SUBJECT', 'WHAT', 'A', 'B'], rows),
    `\n${r.changes.length} difference${r.changes.length === 1 ? '' : 's'}`,
  ].join('\n')
}
