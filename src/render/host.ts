import type {BootRecord} from '../model/boot.js'
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

/** `host install-boot` and `uninstall-boot`: each file and what happened to it, then what to run. */
export function renderBoot(r: BootRecord): string {
  return [...r.files.map((f) => safe(`${f.status.padEnd(9)}  ${f.path}`)), '', `next: ${safe(r.next)}`].join(
    '\n',
  )
}
