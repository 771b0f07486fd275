import type {DomainList} from '../model/domains.js'
import type {SessionObject} from '../session/engine.js'
import {parentOf, renderState} from './session.js'
import {bold, fields, table} from './style.js'

/** `domains list`: every group's default domain, then the session's objects or why there are none. */
export function renderDomainList(list: DomainList, session: {name: string; notRunning: string}): string {
  return [
    table(
      ['GROUP', 'DEFAULT DOMAIN', 'DEVICES'],
      list.defaultDomains.map((d) => [d.group, d.type, d.devices.join(' ')]),
    ),
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
