import {stripVTControlCharacters} from 'node:util'

import {Root} from '../../src/sysfs/root.js'
import {fixtureTree} from './cli.js'

const roots = new Map<string, Root>()

/** A Root on an unpacked copy of a captured fixture: the model reads it as it reads a host. */
export function fixtureRoot(name: string): Root {
  let root = roots.get(name)
  if (!root) {
    root = new Root(fixtureTree(name))
    roots.set(name, root)
  }
  return root
}

/** What a user reads: the text without colour codes (these tests run with and without a terminal). */
export const plain = (s: string) => stripVTControlCharacters(s)

/** The column a header starts at in a rendered table, so that rows can be read by column. */
export function column(text: string, header: string): (line: string) => string {
  const lines = text.split('\n')
  const head = lines.find((l) => l.includes(header))
  if (!head) throw new Error(`no column ${header} in:\n${text}`)
  const start = head.indexOf(header)
  const next = head.slice(start + header.length).search(/\S/)
  const end = next === -1 ? undefined : start + header.length + next
  return (line) => line.slice(start, end).trim()
}

/** The line of a rendered table or list that begins with key (after any indentation). */
export function lineOf(text: string, key: string): string {
  const line = text.split('\n').find((l) => l.trimStart().startsWith(key))
  if (line === undefined) throw new Error(`no line starting with ${key} in:\n${text}`)
  return line
}
