import type {DomainList} from '../model/domains.js'
import type {LiveDevice, LiveDomains, TranslateRecord} from '../model/live.js'
import type {SessionObject} from '../session/engine.js'
import {parentOf, renderState} from './session.js'
import {bold, fields, safe, table} from './style.js'

/** `domains list`: every group's default domain, what each device is attached to now, then the session's objects or why there are none. */
export function renderDomainList(list: DomainList, session: {name: string; notRunning: string}): string {
  return [
    table(
      ['GROUP', 'DEFAULT DOMAIN', 'DEVICES'],
      list.defaultDomains.map((d) => [d.group, d.type, d.devices.join(' ')]),
    ),
    `\n${renderLive(list.live)}`,
    `\n${bold(`session ${session.name}`)}`,
    list.session ? renderState(list.session.state) : `not running: ${session.notRunning}`,
  ].join('\n')
}

/** `domains show`: one object of a session, the fields its kind has. */
export function renderSessionObject(o: SessionObject): string {
  // A mapping per line, each under the first: values start after the widest key and two spaces.
  const under = '\n' + ' '.repeat('attached to'.length + 2)
  return fields([
    ['id', o.id],
    ['kind', o.kind],
    ['name', o.name],
    ['device', o.bdf],
    ['on', parentOf(o)],
    ['type', o.type],
    ['virtual id', o.virtId],
    ['flags', o.flags.join(' ') || null],
    ['attached to', o.attachedTo],
    ['pasids', o.pasids.map((p) => `${p.pasid} on ${p.pt}`).join(', ') || null],
    ['mappings', o.mappings.map((m) => `${m.iova}+${m.length} ${m.memory}`).join(under) || null],
  ])
}

const ownerOf = (d: LiveDevice) =>
  d.owner === 'user' && d.heldBy.length
    ? `user: ${d.heldBy.map((h) => `pid ${h.pid} (${h.command})`).join(', ')}`
    : d.owner

/** The live attachments: one row per device and PASID, then why a device has none, and what was not understood. */
export function renderLive(live: LiveDomains): string {
  const heading = bold(
    live.source === 'debugfs' ? 'attached now (debugfs)' : `attached now: sysfs only, ${live.debugfs.note}`,
  )
  const rows = live.devices.flatMap((d) => {
    const common = [d.bdf, d.group, d.driver, ownerOf(d)]
    if (d.attachments.length === 0)
      return [[...common, null, null, `default ${d.defaultDomain ?? '-'}`, null, null]]
    return d.attachments.map((a) => [
      ...common,
      a.pasid,
      a.domainId,
      a.translation,
      a.addressWidth === null ? null : `${a.addressWidth}-bit`,
      a.pageTableRoot,
    ])
  })
  const notes = [
    ...live.devices.filter((d) => d.note && live.source === 'debugfs').map((d) => `${d.bdf}: ${d.note}`),
    ...live.others.map(
      (o) =>
        `${o.unit} ${o.requesterId} (no device of its unit${o.pasid === null ? '' : `, PASID ${o.pasid}`}): domain ${o.domainId ?? '-'}, ${o.translation}`,
    ),
    ...live.notes,
  ]
  return [
    heading,
    table(
      ['DEVICE', 'GROUP', 'DRIVER', 'OWNER', 'PASID', 'DOMAIN ID', 'TRANSLATION', 'WIDTH', 'PAGE TABLE'],
      rows,
    ),
    ...notes.map((n) => safe(n)),
  ].join('\n')
}

/** `domains translate`: the attachment, each level's entry, then the page or where the walk stopped. */
export function renderTranslate(t: TranslateRecord): string {
  const result = t.mapped
    ? `${t.iova} -> ${t.physicalAddress}` +
      (t.pageSize === null
        ? ''
        : ` (page ${t.pageSize} bytes, ${[t.readable ? 'read' : '', t.writable ? 'write' : ''].filter(Boolean).join('+') || 'no access'})`)
    : `${t.iova} is not mapped: the walk stops at level ${t.stoppedAt}, ${t.steps.at(-1)?.name ?? '-'} not present`
  return [
    fields([
      ['device', t.bdf],
      ['pasid', t.pasid],
      ['domain id', t.attachment?.domainId],
      ['translation', t.attachment?.translation],
      ['page table', t.pageTableRoot],
      ['levels', t.levels],
    ]),
    '',
    table(
      ['LEVEL', 'ENTRY', 'INDEX', 'VALUE'],
      t.steps.map((s) => [s.level, s.name, s.index, s.entry ?? 'not present']),
    ),
    '',
    bold(result),
    ...t.notes.map((n) => safe(n)),
  ].join('\n')
}
