import type {DeviceScope, DmarStructure, DmarTable} from '../decode/dmar.js'
import type {IvhdDeviceEntry, IvrsStructure, IvrsTable} from '../decode/ivrs.js'
import type {AcpiHeader} from '../decode/acpi.js'
import type {FirmwareRecord, FirmwareTableRecord, UnitMatch} from '../model/firmware.js'
import {bold, fields, table} from './style.js'

type Row = (string | number | null)[]

const off = (n: number) => `0x${n.toString(16).padStart(3, '0')}`

/** `firmware`: per table its header, what the kernel made of it, problems, then every structure. */
export function renderFirmware(f: FirmwareRecord): string {
  const out: string[] = [...f.notes]
  for (const t of f.tables) {
    if (out.length) out.push('')
    out.push(renderTable(t))
  }
  return out.join('\n')
}

function renderTable(t: FirmwareTableRecord): string {
  const decoded = t.dmar ?? t.ivrs
  const header = decoded?.header ?? null
  const out = [bold(`${t.name} (${t.path})`)]
  const pairs: [string, string | number | null][] = [
    ['header', header ? headerLine(header) : null],
    ['kernel', t.kernel],
  ]
  if (t.dmar) pairs.push(...dmarFields(t.dmar))
  if (t.ivrs) pairs.push(...ivrsFields(t.ivrs))
  out.push(fields(pairs))
  if (decoded?.problems.length) {
    out.push(bold('problems'))
    for (const p of decoded.problems) out.push(`  ${p}`)
  }
  const rows = t.dmar
    ? t.dmar.structures.flatMap((s) => dmarRows(s, t.units))
    : (t.ivrs?.structures ?? []).flatMap((s) => ivrsRows(s, t.units))
  if (rows.length) out.push('', table(['OFFSET', 'STRUCTURE', 'DETAIL', 'DEVICE / UNIT'], rows))
  return out.join('\n')
}

function headerLine(h: AcpiHeader): string {
  return `revision ${h.revision}, ${h.length} bytes, OEM "${h.oemId}" "${h.oemTableId}" ${h.oemRevision}, checksum ${h.checksumValid ? 'ok' : 'BAD'}`
}

function dmarFields(d: DmarTable): [string, string | number | null][] {
  const flags = [
    d.intrRemap && 'INTR_REMAP',
    d.x2apicOptOut && 'X2APIC_OPT_OUT',
    d.dmaCtrlPlatformOptIn && 'DMA_CTRL_PLATFORM_OPT_IN',
  ]
  return [
    ['host address width', d.hostAddressWidth === null ? null : `${d.hostAddressWidth + 1} bits`],
    ['flags', d.flags === null ? null : flags.filter(Boolean).join(' ') || 'none'],
  ]
}

function ivrsFields(t: IvrsTable): [string, string | number | null][] {
  const i = t.info
  return [
    [
      'IVinfo',
      i
        ? `${i.raw}: VA ${i.vaSize} bits, PA ${i.paSize} bits, GVA code ${i.gvaSize}${i.efrSup ? ', EFRSup' : ''}${i.dmaRemap ? ', DMA remapping (pre-boot protection)' : ''}`
        : null,
    ],
    ['IVHD type used', t.ivhdTypeUsed === null ? null : `0x${t.ivhdTypeUsed.toString(16)}`],
  ]
}

function unitCell(units: UnitMatch[], offset: number): string | null {
  const m = units.find((u) => u.offset === offset)
  if (!m) return null
  if (!m.used) return `${m.unit ?? '-'} (block not read by this kernel)`
  return m.unit ?? 'not brought up'
}

function dmarRows(s: DmarStructure, units: UnitMatch[]): Row[] {
  const head = (detail: string, device: string | null = null): Row => [off(s.offset), s.kind, detail, device]
  switch (s.kind) {
    case 'DRHD':
      return [
        head(
          `segment ${s.segment}, base ${s.registerBase} (${s.registerSetSize / 1024} KiB)${s.includePciAll ? ', INCLUDE_PCI_ALL' : ''}`,
          unitCell(units, s.offset),
        ),
        ...scopeRows(s.scopes),
      ]
    case 'RMRR':
      return [head(`segment ${s.segment}, ${s.base}-${s.end}`), ...scopeRows(s.scopes)]
    case 'ATSR':
      return [head(`segment ${s.segment}${s.allPorts ? ', ALL_PORTS' : ''}`), ...scopeRows(s.scopes)]
    case 'RHSA':
      return [head(`unit ${s.registerBase} in proximity domain ${s.proximityDomain}`)]
    case 'ANDD':
      return [head(`ACPI device ${s.deviceNumber}: ${s.name}`)]
    case 'SATC':
      return [head(`segment ${s.segment}${s.atcRequired ? ', ATC_REQUIRED' : ''}`), ...scopeRows(s.scopes)]
    case 'SIDP':
      return [head(`segment ${s.segment}`), ...scopeRows(s.scopes)]
    default:
      return [head(`type ${s.type}, ${s.length} bytes (not decoded)`)]
  }
}

function scopeRows(scopes: DeviceScope[]): Row[] {
  return scopes.map((c) => {
    const path = c.path.map((p) => `${p.device.toString(16).padStart(2, '0')}.${p.function}`).join('/')
    const id = c.kind === 'ioapic' || c.kind === 'hpet' || c.kind === 'namespace' ? ` ${c.enumerationId}` : ''
    const device = c.bdf === null ? `(${c.unresolved})` : c.unresolved ? `${c.bdf} (${c.unresolved})` : c.bdf
    return [
      off(c.offset),
      `  scope`,
      `${c.kind}${id}, bus ${c.startBus.toString(16).padStart(2, '0')} path ${path || '-'}`,
      device,
    ]
  })
}

function ivrsRows(s: IvrsStructure, units: UnitMatch[]): Row[] {
  if (s.kind === 'IVHD') {
    const efr = s.efr ? `, EFR ${s.efr}` : ''
    return [
      [
        off(s.offset),
        `IVHD 0x${s.type.toString(16)}`,
        `IOMMU ${s.iommu}, base ${s.base}, segment ${s.segment}, flags ${s.flagNames.join(' ') || 'none'}${efr}`,
        unitCell(units, s.offset),
      ],
      ...s.entries.filter((e) => e.kind !== 'padding').map(entryRow),
    ]
  }
  if (s.kind === 'IVMD') {
    const what = [s.unity && 'unity', s.read && 'read', s.write && 'write', s.exclusion && 'exclusion']
      .filter(Boolean)
      .join(' ')
    const covers =
      s.covers === 'all' ? 'every device' : s.covers === 'select' ? s.device : `${s.device} to ${s.rangeEnd}`
    return [
      [
        off(s.offset),
        `IVMD 0x${s.type.toString(16)}`,
        `${s.start} size ${s.size}, ${what || 'no flags'}`,
        covers,
      ],
    ]
  }
  return [[off(s.offset), `type 0x${s.type.toString(16)}`, `${s.length} bytes (not decoded)`, null]]
}

function entryRow(e: IvhdDeviceEntry): Row {
  let detail: string = e.kind
  let device: string | null = e.rangeEnd ? `${e.device} to ${e.rangeEnd}` : e.device
  if (e.alias) detail += `, alias ${e.alias}`
  if (e.extended) detail += `, extended ${e.extended}`
  if (e.special) {
    detail = `${e.special.variety} ${e.special.handle}`
    device = e.special.source
  }
  if (e.acpi) {
    detail = `ACPI ${e.acpi.hid}${e.acpi.uid ? ` UID ${e.acpi.uid}` : ''}`
  }
  if (e.kind === 'all') device = 'every device'
  if (e.data) detail += `, data 0x${e.data.toString(16)}`
  return [off(e.offset), '  entry', detail, device]
}
