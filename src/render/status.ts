import type {StatusRecord} from '../model/status.js'
import {bold, dim, result} from './style.js'

/** `status`: one line per check with its summary, the fix of each that warns or fails, then the verdict. */
export function renderStatus(r: StatusRecord, opts: {verbose: boolean}): string {
  const out: string[] = []
  if (!r.iommu)
    out.push(bold('No IOMMU is in use on this host.') + ' Device passthrough and iommufd need one.\n')
  const idWidth = Math.max(...r.checks.map((c) => c.id.length))
  const margin = `      ${' '.repeat(idWidth)}  `
  for (const c of r.checks) {
    // Pad by the visible width: colour codes take none.
    const painted = result(c.result)
    out.push(`${painted.padEnd(4 + (painted.length - c.result.length))}  ${c.id.padEnd(idWidth)}  ${c.title}`)
    out.push(`${margin}${dim(c.summary)}`)
    if (c.fix && (c.result === 'warn' || c.result === 'fail')) out.push(`${margin}fix: ${c.fix}`)
    if (opts.verbose)
      for (const e of c.evidence) out.push(`${margin}${dim(`${e.path}: ${e.value ?? '(absent)'}`)}`)
  }
  const verdict = !r.iommu ? 'not available' : r.ready ? 'ready' : 'not ready'
  out.push(
    `\n${bold(verdict)}: ${r.counts.pass} pass, ${r.counts.warn} warn, ${r.counts.fail} fail, ${r.counts.skip} skip${r.strict ? ' (strict)' : ''}`,
  )
  return out.join('\n')
}
