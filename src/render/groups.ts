import type {DirectMapping, GroupDetail} from '../model/direct.js'
import type {GroupRecord} from '../model/groups.js'
import type {DeviceHolders} from '../model/holders.js'
import {bold, fields, table} from './style.js'

/** `groups`: one line per device, the group's columns on its first device only. */
export function renderGroups(groups: GroupRecord[]): string {
  if (groups.length === 0) return 'No IOMMU groups: this host has no IOMMU in use (see `iommuctl status`).'
  const rows = groups.flatMap((g) =>
    g.devices.map((d, i) => [
      i === 0 ? g.id : '',
      i === 0 ? g.type : '',
      i === 0 ? (g.viable ? 'viable' : `no (${g.blockers.length})`) : '',
      d.bdf,
      d.driver,
      [d.vendor?.name, d.device?.name ?? d.device?.id].filter(Boolean).join(' ') || null,
    ]),
  )
  return table(['GROUP', 'TYPE', 'VFIO', 'DEVICE', 'DRIVER', 'NAME'], rows)
}

/** `groups show`: the group, its devices, what keeps VFIO from it, why they share it, reserved regions. */
export function renderGroup(g: GroupDetail): string {
  const out = [
    fields([
      ['group', g.id],
      ['type', g.type],
      ['unit', g.unit],
      ['held by', heldBy(g.heldBy)],
      [
        'vfio',
        g.viable
          ? 'viable: every device is on a driver VFIO accepts'
          : `not viable: ${g.blockers.length} device(s) in the way`,
      ],
    ]),
    `\n${bold('devices')}`,
    table(
      ['DEVICE', 'DRIVER', 'CLASS', 'NAME'],
      g.devices.map((d) => [
        d.bdf,
        d.driver,
        d.class?.name ?? d.class?.id,
        [d.vendor?.name, d.device?.name ?? d.device?.id].filter(Boolean).join(' '),
      ]),
    ),
  ]
  if (g.blockers.length) {
    out.push(`\n${bold('in the way of VFIO')}`)
    for (const b of g.blockers) out.push(`  ${b.bdf}: ${b.reason}`)
  }
  if (g.sharing) {
    out.push(`\n${bold('why these devices share a group')}`)
    for (const c of g.sharing.causes) out.push(`  ${c.bdf}: ${c.detail}`)
    if (g.sharing.causes.length === 0) out.push(`  ${g.sharing.summary}`)
  }
  out.push(
    `\n${bold('reserved regions')}`,
    g.reservedRegions.length
      ? table(
          ['START', 'END', 'TYPE'],
          g.reservedRegions.map((r) => [r.start, r.end, r.type]),
        )
      : '  none',
    renderDirectMapping(g.directMapping),
  )
  return out.join('\n')
}

/** Who has a device or group open, as `devices show` and `groups show` say it. */
export function heldBy(h: DeviceHolders): string {
  if (!h.known) return 'unknown (not the live host)'
  const who = h.holders.length
    ? h.holders.map((x) => `pid ${x.pid} (${x.command}): ${x.path}`).join(', ')
    : 'no process'
  return h.note ? `${who}; ${h.note}` : who
}

/** The firmware's 1:1 regions and what follows for VFIO, as `groups show` and `devices show` end. */
export function renderDirectMapping(m: DirectMapping): string {
  const out = [`\n${bold('direct-mapped regions (firmware RMRR / IVMD)')}`]
  if (m.firmware.length)
    out.push(
      table(
        ['SOURCE', 'START', 'END', 'DEVICES', 'KERNEL'],
        m.firmware.map((f) => [
          `${f.structure} ${f.table}+0x${f.offset.toString(16)}`,
          f.start,
          f.end,
          f.devices.join(' '),
          f.relaxable ? 'relaxable (USB or graphics)' : 'direct',
        ]),
      ),
    )
  else out.push('  none in the firmware tables')
  if (m.summary) out.push(`  ${m.requiresDirect ? 'blocks VFIO' : 'vfio'}: ${m.summary}`)
  for (const n of m.notes) out.push(`  note: ${n}`)
  return out.join('\n')
}
