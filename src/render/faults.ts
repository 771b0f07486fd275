import type {LogTime} from '../decode/kernel-log.js'
import type {FaultDevice, FaultGroup, FaultRecord, FaultsReport} from '../model/faults.js'
import {bold, dim, safe, table} from './style.js'

const VENDOR: Record<string, string> = {
  'intel-vtd': 'VT-d',
  'amd-vi': 'AMD-Vi',
  'arm-smmu-v3': 'SMMUv3',
  'arm-smmu': 'SMMU',
  'virtio-iommu': 'virtio-iommu',
}

function when(t: LogTime): string | null {
  if (t.seconds !== null) return `${t.seconds.toFixed(6)}s`
  return t.wall
}

/** Who made the request: the device, else the unit and stream. */
function who(g: Pick<FaultGroup, 'bdf' | 'requester' | 'unit' | 'streamId'>): string {
  if (g.bdf) return g.bdf
  if (g.requester) return g.requester
  const parts = [g.unit, g.streamId && `sid ${g.streamId}`].filter(Boolean)
  return parts.length ? parts.join(' ') : 'the unit'
}

function reasonText(g: Pick<FaultGroup, 'reason'>): string | null {
  if (!g.reason) return null
  return g.reason.code && g.reason.name !== 'Unknown' && !g.reason.name.startsWith('context fault')
    ? `${g.reason.code} ${g.reason.name}`
    : g.reason.code
      ? `${g.reason.name} (${g.reason.code})`
      : g.reason.name
}

function deviceLine(d: FaultDevice): string {
  const name = [d.brief.vendor?.name, d.brief.device?.name ?? d.brief.device?.id].filter(Boolean).join(' ')
  if (!d.present) return `${d.bdf}: no such PCI device under this root`
  return [
    `${d.bdf} ${name || ''}`.trim(),
    `driver ${d.brief.driver ?? 'none'}`,
    d.group === null ? 'no IOMMU group' : `group ${d.group}${d.domainType ? ` (${d.domainType})` : ''}`,
  ].join(', ')
}

/** `faults`: a table of the faults grouped per device and reason, then what each one usually means. */
export function renderFaults(r: FaultsReport): string {
  const source = r.source.path ? `${r.source.kind} ${r.source.path}` : r.source.kind
  const head = dim(
    `${r.lines} line(s) read from ${source}; ${r.groups.reduce((n, g) => n + g.count, 0)} IOMMU fault or event record(s)` +
      (r.unparsed ? `, ${r.unparsed} not decoded (kept as text)` : ''),
  )
  if (r.groups.length === 0 && r.unparsed === 0 && r.suppressed.length === 0) {
    return `${head}\nNo IOMMU faults or events in the kernel log.`
  }
  const out = [head]
  if (r.groups.length) {
    out.push(
      table(
        ['DEVICE', 'DRIVER', 'IOMMU', 'KIND', 'ACCESS', 'REASON', 'COUNT', 'FIRST', 'LAST', 'ADDRESS'],
        r.groups.map((g) => [
          who(g),
          g.device?.brief.driver ?? g.driver,
          g.vendor ? VENDOR[g.vendor] : null,
          g.kind,
          g.accesses.join('+') || null,
          reasonText(g),
          g.count,
          when(g.first.time),
          when(g.last.time),
          g.last.address ?? (g.last.index && `index ${g.last.index}`),
        ]),
      ),
    )
  }
  for (const s of r.suppressed) {
    out.push(
      `${s.count} more message(s) dropped by the kernel's ratelimit (${s.function}: callbacks suppressed)`,
    )
  }
  for (const g of r.groups) {
    out.push(
      '',
      bold(`${who(g)}: ${g.kind} ${g.accesses.join('+')} ${reasonText(g) ?? ''}`.replace(/\s+/g, ' ').trim()),
    )
    if (g.device) out.push(`  device   ${deviceLine(g.device)}`)
    if (g.device?.behindBridge) {
      const b = g.device.behindBridge
      out.push(
        `  bridge   reported under ${b.bridge}'s requester ID: any device behind it may have made the request: ${b.devices.join(', ') || 'none found'}`,
      )
    }
    if (g.segmentAssumed) out.push(dim('  note     the line prints no PCI segment: 0000 assumed'))
    for (const region of g.inReservedRegions) {
      out.push(
        `  region   the address is inside the group's reserved region ${region.start}-${region.end} (${region.type})`,
      )
    }
    out.push(`  cause    ${g.advice.cause}`, `  check    ${g.advice.check}`)
  }
  const unparsed = r.records.filter((x) => x.kind === 'unparsed')
  if (unparsed.length) {
    out.push('', bold('not decoded (kept as the kernel printed them)'))
    for (const u of unparsed.slice(0, 20)) out.push(`  line ${u.line}: ${safe(u.text)}`)
    if (unparsed.length > 20) out.push(`  ... and ${unparsed.length - 20} more (--json lists them all)`)
  }
  if (r.recordsLeftOut)
    out.push(dim(`${r.recordsLeftOut} record(s) beyond the first ${r.records.length} counted, not listed`))
  if (r.groupsLeftOut)
    out.push(
      dim(`${r.groupsLeftOut} record(s) left out of the groups (too many distinct devices and reasons)`),
    )
  if (r.notText) out.push(dim(`${r.notText} line(s) skipped: not UTF-8 text`))
  return out.join('\n')
}

/** `faults --follow`: one line per record as it arrives. */
export function renderFaultLine(r: FaultRecord): string {
  if (r.kind === 'unparsed') return safe(`${when(r.time) ?? '-'}  not decoded: ${r.text}`)
  if (r.kind === 'suppressed')
    return safe(
      `${when(r.time) ?? '-'}  ${r.suppressed!.count} message(s) suppressed by ${r.suppressed!.function}`,
    )
  return safe(
    [
      when(r.time) ?? '-',
      who(r),
      r.device?.brief.driver ?? r.driver ?? '-',
      r.vendor ? VENDOR[r.vendor] : '-',
      r.kind,
      r.access ?? '',
      r.address ?? (r.index ? `index ${r.index}` : ''),
      reasonText(r) ?? '',
    ]
      .filter((x) => x !== '')
      .join('  '),
  )
}
