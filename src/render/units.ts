import type {UnitDetail, UnitRecord} from '../model/units.js'
import {fields, table} from './style.js'

/** `units`: one row per unit, or a sentence when there are none. */
export function renderUnits(units: UnitRecord[]): string {
  if (units.length === 0) return 'No IOMMU units: /sys/class/iommu is empty or absent.'
  return table(
    ['NAME', 'KIND', 'DEVICES', 'SUMMARY'],
    units.map((u) => [u.name, u.kind, u.devices.length, u.summary]),
  )
}

/** `units show`: the unit, then one section per register set with every field named. */
export function renderUnit(u: UnitDetail): string {
  const out = [
    fields([
      ['name', u.name],
      ['kind', u.kind],
      ['summary', u.summary],
      ['sysfs', u.sysfsPath],
      ['pci device', u.pciDevice],
      ['devices', u.devices.length ? u.devices.join(' ') : 'none'],
    ]),
  ]
  const section = (title: string, record: object | null | undefined) => {
    if (!record) return
    out.push(
      `\n${title}`,
      indent(
        fields(Object.entries(record).map(([k, v]) => [k, Array.isArray(v) ? v.join(' ') || 'none' : v])),
      ),
    )
  }
  if (u.vtd) {
    section('registers', {version: u.vtd.version, address: u.vtd.address, cap: u.vtd.cap, ecap: u.vtd.ecap})
    section('cap', u.vtd.capFields)
    section('ecap', u.vtd.ecapFields)
  }
  if (u.amdVi) {
    section('registers', {
      cap: u.amdVi.cap,
      efr: u.amdVi.efr,
      efr2: u.amdVi.efr2,
      'kernel boot line': u.amdVi.bootLine,
    })
    section('features', u.amdVi.features)
  }
  if (u.live) {
    if (u.live.registers === null) out.push(`\nlive registers: not read, ${u.live.note}`)
    else {
      const r = u.live.registers
      section(
        'live registers (debugfs)',
        u.kind === 'amd-vi' ? r : {GSTS: r.GSTS, FSTS: r.FSTS, RTADDR: r.RTADDR, IQA: r.IQA, IRTA: r.IRTA},
      )
      section('global status', u.live.gsts)
      section('fault status', u.live.fsts)
      section('control', u.live.control)
      section('status', u.live.status)
      if (u.live.note) out.push(u.live.note)
    }
  }
  section('virtio features', u.virtio)
  section('attributes', u.attributes)
  return out.join('\n')
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
}
