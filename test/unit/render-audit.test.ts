import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {AuditRecord, readAudit} from '../../src/model/audit.js'
import {Context} from '../../src/model/status.js'
import {renderAudit} from '../../src/render/audit.js'
import {fixtureRoot, plain} from '../helpers/roots.js'

const audit = (name: string) => readAudit(new Context(fixtureRoot(name)), 'high')
const render = (r: AuditRecord, verbose = false) => plain(renderAudit(r, {verbose}))

describe('renderAudit', () => {
  it('amd: findings worst first, each with its summary and fix; the verdict counts them', () => {
    const text = render(audit('amd'))
    const heads = text.split('\n').filter((l) => /^(CRITICAL|HIGH|MEDIUM|LOW|INFO) /.test(l))
    assert.deepEqual(
      heads.map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
      ['HIGH domains.identity', 'MEDIUM iommu.passthrough', 'LOW firmware.preboot-dma'],
    )
    const lines = text.split('\n')
    const at = lines.indexOf(heads[0]!)
    assert.match(lines[at + 1]!, /^\s+groups 0, 1, 2, 3, 4, 5 \(8 devices\) DMA untranslated/)
    assert.match(lines[at + 2]!, /^\s+fix: /)
    assert.match(
      lines.at(-1)!,
      /^exposed: 1 high, 1 medium, 1 low; \d+ checks clean \(fail on high and above\)$/,
    )
  })

  it('ids and titles line up whatever the level word', () => {
    const heads = render(audit('amd'), true)
      .split('\n')
      .filter((l) => /^(CRITICAL|HIGH|MEDIUM|LOW|INFO|CLEAN) /.test(l))
    const titleColumn = heads.map((l) => /^\S+ +\S+ +/.exec(l)![0].length)
    assert.equal(new Set(titleColumn).size, 1, heads.join('\n'))
  })

  it('clean checks and evidence only with --verbose', () => {
    const r = audit('intel')
    const quiet = render(r)
    const verbose = render(r, true)
    assert.doesNotMatch(quiet, /^CLEAN /m)
    assert.match(verbose, /^CLEAN\s+irq\.remapping\s+Interrupt remapping$/m)
    assert.doesNotMatch(quiet, /\/proc\/interrupts: /)
    assert.match(verbose, /^\s+\/proc\/interrupts: IR- interrupt chips present$/m)
    assert.match(quiet.split('\n').at(-1)!, /^passed: 1 low; /)
  })

  it('no IOMMU: says so first; notes are shown', () => {
    const text = render(audit('none'))
    assert.match(text, /^No IOMMU is in use on this host: every device can DMA to all of memory\.\n\n/)
    assert.match(text, /^note: no IOMMU in use/m)
  })

  it('no findings: "passed: no findings"', () => {
    const r = audit('intel')
    assert.match(
      render({...r, findings: [], failed: false})
        .split('\n')
        .at(-1)!,
      /^passed: no findings; /,
    )
  })

  it('a summary from a hostile root cannot move the cursor', () => {
    const r = audit('amd')
    const hostile = {...r, findings: [{...r.findings[0]!, summary: 'x\u001b[2Jy'}]}
    assert.ok(!renderAudit(hostile, {verbose: false}).includes('\u001b[2J'))
  })
})
