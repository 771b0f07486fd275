// `iommuctl diff A [B]`: what changed between two roots (snapshots, or a snapshot and the live
// host), read through the same models as units, groups, devices and status. Groups are matched by
// their member BDFs, not their numbers, which the kernel hands out in probe order at each boot.
import {Root} from '../sysfs/root.js'
import {UNIT_FEATURES} from '../decode/unit-features.js'
import {unitFeatures} from './export.js'
import {DeviceRecord, readDevices} from './devices.js'
import {GroupRecord, readGroups} from './groups.js'
import {readStatus} from './status.js'
import {PciTopology} from './topology.js'
import {readUnits} from './units.js'

export type DiffArea = 'unit' | 'group' | 'device' | 'status'

export interface DiffChange {
  area: DiffArea
  /** What changed: a unit's name, a group's members (BDFs joined by spaces), a BDF, a check id. */
  subject: string
  /** added, removed, changed; split and merged for groups whose members now group differently. */
  change: 'added' | 'removed' | 'changed' | 'split' | 'merged'
  /** The field that changed (driver, type, kind, summary, a feature, result), or null. */
  field: string | null
  before: string | null
  after: string | null
}

/** `iommuctl diff --json` */
export interface DiffReport {
  a: string
  b: string
  same: boolean
  changes: DiffChange[]
}

interface Side {
  units: Map<string, Record<string, string | null>>
  groups: GroupRecord[]
  devices: Map<string, DeviceRecord>
  checks: Map<string, string>
}

function read(root: Root): Side {
  const topology = new PciTopology(root)
  const units = new Map(
    readUnits(root).map((u) => {
      const f = unitFeatures(u)
      const fields: Record<string, string | null> = {kind: u.kind, summary: u.summary}
      for (const name of UNIT_FEATURES) fields[name] = f[name] === null ? null : String(f[name])
      return [u.name, fields] as const
    }),
  )
  return {
    units,
    groups: readGroups(root, topology),
    devices: new Map(readDevices(topology).map((d) => [d.bdf, d])),
    checks: new Map(readStatus(root, {strict: false, vmMemory: null}).checks.map((c) => [c.id, c.result])),
  }
}

const members = (g: GroupRecord) => g.devices.map((d) => d.bdf).sort()
const key = (g: GroupRecord) => members(g).join(' ')
const ids = (d: DeviceRecord) => `${d.vendor?.id ?? '?'}:${d.device?.id ?? '?'}`

export function diffRoots(a: Root, b: Root): DiffReport {
  const before = read(a)
  const after = read(b)
  const changes: DiffChange[] = []
  const add = (c: DiffChange) => changes.push(c)

  for (const [name, fa] of before.units) {
    const fb = after.units.get(name)
    if (!fb) {
      add({area: 'unit', subject: name, change: 'removed', field: null, before: fa.kind!, after: null})
      continue
    }
    for (const field of Object.keys(fa)) {
      if (fa[field] !== fb[field])
        add({area: 'unit', subject: name, change: 'changed', field, before: fa[field]!, after: fb[field]!})
    }
  }
  for (const [name, fb] of after.units) {
    if (!before.units.has(name))
      add({area: 'unit', subject: name, change: 'added', field: null, before: null, after: fb.kind!})
  }

  diffGroups(before.groups, after.groups, add)

  for (const [bdf, da] of before.devices) {
    const db = after.devices.get(bdf)
    if (!db) {
      add({area: 'device', subject: bdf, change: 'removed', field: null, before: ids(da), after: null})
      continue
    }
    if (ids(da) !== ids(db))
      add({area: 'device', subject: bdf, change: 'changed', field: 'id', before: ids(da), after: ids(db)})
    if (da.driver !== db.driver)
      add({
        area: 'device',
        subject: bdf,
        change: 'changed',
        field: 'driver',
        before: da.driver,
        after: db.driver,
      })
  }
  for (const [bdf, db] of after.devices) {
    if (!before.devices.has(bdf))
      add({area: 'device', subject: bdf, change: 'added', field: null, before: null, after: ids(db)})
  }

  for (const [id, ra] of before.checks) {
    const rb = after.checks.get(id) ?? null
    if (ra !== rb)
      add({area: 'status', subject: id, change: 'changed', field: 'result', before: ra, after: rb})
  }
  for (const [id, rb] of after.checks) {
    if (!before.checks.has(id))
      add({area: 'status', subject: id, change: 'added', field: 'result', before: null, after: rb})
  }
  return {a: a.source, b: b.source, same: changes.length === 0, changes}
}

/**
 * Groups with the same members are the same group (its number may differ): their default type
 * and viability are compared. A group whose members now sit in several groups was split; a group
 * holding members of several earlier groups is merged; members on one side only make a group
 * added or removed.
 */
function diffGroups(before: GroupRecord[], after: GroupRecord[], add: (c: DiffChange) => void): void {
  const afterByKey = new Map(after.map((g) => [key(g), g]))
  const beforeKeys = new Set(before.map(key))
  /** For each group of one side, the keys of the other side's groups that hold its members. */
  const across = (from: GroupRecord[], to: GroupRecord[]) => {
    const groupOf = new Map<string, string>()
    for (const g of to) for (const bdf of members(g)) groupOf.set(bdf, key(g))
    return new Map(
      from.map((g) => [key(g), [...new Set(members(g).flatMap((bdf) => groupOf.get(bdf) ?? []))]] as const),
    )
  }
  const now = across(before, after)
  const was = across(after, before)
  const viable = (x: boolean) => (x ? 'viable' : 'not viable')
  for (const g of before) {
    const k = key(g)
    const same = afterByKey.get(k)
    const into = now.get(k)!
    if (same) {
      if (g.type !== same.type)
        add({area: 'group', subject: k, change: 'changed', field: 'type', before: g.type, after: same.type})
      if (g.viable !== same.viable)
        add({
          area: 'group',
          subject: k,
          change: 'changed',
          field: 'viable',
          before: viable(g.viable),
          after: viable(same.viable),
        })
    } else if (into.length === 0) {
      add({area: 'group', subject: k, change: 'removed', field: null, before: k, after: null})
    } else if (into.length > 1) {
      add({area: 'group', subject: k, change: 'split', field: null, before: k, after: into.join(' | ')})
    } else if (was.get(into[0]!)!.length === 1) {
      // One group on each side, with members gained or lost (devices added or removed with it).
      add({area: 'group', subject: into[0]!, change: 'changed', field: 'members', before: k, after: into[0]!})
    }
  }
  for (const g of after) {
    const k = key(g)
    if (beforeKeys.has(k)) continue
    const from = was.get(k)!
    if (from.length === 0)
      add({area: 'group', subject: k, change: 'added', field: null, before: null, after: k})
    else if (from.length > 1)
      add({area: 'group', subject: k, change: 'merged', field: null, before: from.join(' | '), after: k})
  }
}
