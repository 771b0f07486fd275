import type {ProbeRecord, StepResult} from '../model/probe.js'
import {Result, result, table} from './style.js'

const PAINT: Record<StepResult, Result> = {ok: 'pass', failed: 'fail', unsupported: 'warn', skipped: 'skip'}

/** `probe`: each step with its result, the call it made and why, then the verdict. */
export function renderProbe(record: ProbeRecord): string {
  const steps = table(
    ['RESULT', 'STEP', 'CALL', 'DETAIL'],
    record.steps.map((s) => [
      // The colour of the matching check result, the probe's own word.
      result(PAINT[s.result]).replace(/PASS|FAIL|WARN|SKIP/, s.result),
      s.step,
      s.call,
      s.errno ? `${s.errno}: ${s.detail}` : s.detail,
    ]),
  )
  const ok = record.steps.filter((s) => s.result === 'ok').length
  const verdict = record.ok
    ? `${record.path === 'legacy' ? 'legacy VFIO' : 'iommufd'} works with this device`
    : 'some steps failed'
  return `${steps}\n\n${verdict} (${ok} of ${record.steps.length} steps ok)`
}
