import type {HostStatusRecord} from '../model/host-status.js'
import {bold, colour, safe, table} from './style.js'

/** `host status`: one row per thing the config asks for, then the fix of each difference. */
export function renderHostStatus(r: HostStatusRecord): string {
  const rows = r.items.map((i) => [
    i.ok ? colour.green('ok') : colour.red('drift'),
    i.entry,
    i.kind,
    i.target,
    i.want,
    i.live ?? '(absent)',
  ])
  const out = [table(['STATE', 'ENTRY', 'WHAT', 'TARGET', 'WANT', 'LIVE'], rows)]
  const fixes = r.items.filter((i) => i.fix !== null)
  if (fixes.length) {
    out.push(`\n${bold('fix')}`)
    for (const i of fixes) out.push(safe(`  ${i.target}: ${i.fix}`))
  }
  out.push(`\n${safe(r.summary)}`)
  return out.join('\n')
}
