import type {AuditLevel, AuditRecord} from '../model/audit.js'
import {bold, colour, dim, safe} from './style.js'

const PAINT: Record<AuditLevel, (s: string) => string> = {
  critical: (s) => colour.red.bold(s),
  high: (s) => colour.red(s),
  medium: (s) => colour.yellow(s),
  low: (s) => colour.cyan(s),
  info: (s) => colour.dim(s),
}

/** `audit`: the findings worst first, each with its summary and fix; the clean checks with --verbose; then the verdict. */
export function renderAudit(r: AuditRecord, opts: {verbose: boolean}): string {
  const out: string[] = []
  if (!r.iommu)
    out.push(bold('No IOMMU is in use on this host: every device can DMA to all of memory.') + '\n')
  const idWidth = Math.max(0, ...r.findings.map((f) => f.id.length), ...r.clean.map((c) => c.id.length))
  const levelWidth = Math.max(...r.findings.map((f) => f.level.length), 'clean'.length)
  const margin = ' '.repeat(levelWidth + 2 + idWidth + 2)
  const head = (word: string, painted: string, id: string, title: string) =>
    `${painted}${' '.repeat(levelWidth - word.length)}  ${safe(id).padEnd(idWidth)}  ${safe(title)}`
  for (const f of r.findings) {
    out.push(head(f.level, PAINT[f.level](f.level.toUpperCase()), f.id, f.title))
    out.push(`${margin}${safe(f.summary)}`)
    out.push(`${margin}fix: ${safe(f.fix)}`)
    if (opts.verbose)
      for (const e of f.evidence) out.push(`${margin}${dim(safe(`${e.path}: ${e.value ?? '(absent)'}`))}`)
  }
  if (opts.verbose) {
    for (const c of r.clean) {
      out.push(head('clean', colour.green('CLEAN'), c.id, c.title))
      out.push(`${margin}${dim(safe(c.summary))}`)
      for (const e of c.evidence) out.push(`${margin}${dim(safe(`${e.path}: ${e.value ?? '(absent)'}`))}`)
    }
  }
  for (const n of r.notes) out.push(`note: ${safe(n)}`)
  const counts = (['critical', 'high', 'medium', 'low', 'info'] as const)
    .filter((l) => r.counts[l] > 0)
    .map((l) => `${r.counts[l]} ${l}`)
  const verdict = r.findings.length === 0 ? 'no findings' : counts.join(', ')
  out.push(
    `\n${bold(r.failed ? 'exposed' : 'passed')}: ${verdict}; ${r.clean.length} check${r.clean.length === 1 ? '' : 's'} clean (fail on ${r.failOn} and above)`,
  )
  return out.join('\n')
}
