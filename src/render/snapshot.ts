import * as path from 'node:path'

import type {SnapshotResult} from '../snapshot/snapshot.js'
import {safe} from './style.js'

/**
 * `snapshot`: where it went and what it holds. With -o - it goes to stderr, so it says stdout.
 * The kernel, unit names, group types and paths come from the root (or its manifest): safe().
 */
export function renderSnapshot(r: SnapshotResult, opts: {toStdout: boolean; cwd: string}): string {
  const units = r.units.map((u) => `${u.name} (${u.kind}, ${u.devices.length} devices)`).join(', ')
  return [
    `Snapshot written to ${opts.toStdout ? 'stdout' : displayPath(r.output, opts.cwd)} (${r.format})`,
    `  kernel   ${r.kernel ?? 'unknown'}`,
    `  units    ${r.units.length}${r.units.length ? ': ' + units : ''}`,
    `  groups   ${r.groups.length}${r.groups.length ? ' (' + countTypes(r) + ')' : ''}`,
    `  devices  ${r.pciDevices.length} PCI`,
    `  /dev     ${r.devNodes.length ? r.devNodes.map((n) => n.path).join(' ') : 'no /dev/iommu or /dev/vfio nodes'}`,
  ]
    .map(safe)
    .join('\n')
}

/** The files the snapshot could not read, each with why; null when it read them all. */
export function renderUnreadable(r: SnapshotResult): string | null {
  if (r.unreadable.length === 0) return null
  return [
    `Could not read ${r.unreadable.length} file(s):`,
    ...r.unreadable.map((u) => safe(`  ${u.path}: ${u.reason}`)),
  ].join('\n')
}

function countTypes(r: SnapshotResult): string {
  const counts = new Map<string, number>()
  for (const g of r.groups) counts.set(g.type ?? 'unknown', (counts.get(g.type ?? 'unknown') ?? 0) + 1)
  return [...counts].map(([type, n]) => `${type}: ${n}`).join(', ')
}

/** Relative to the working directory when the output is beneath it, absolute otherwise. */
function displayPath(p: string, cwd: string): string {
  const rel = path.relative(cwd, p)
  return rel && !rel.startsWith('..') ? rel : p
}
