import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {readStatus, StatusRecord} from '../../src/model/status.js'
import {renderStatus} from '../../src/render/status.js'
import {fixtureRoot, lineOf, plain} from '../helpers/roots.js'

const status = (name: string, strict = false) => readStatus(fixtureRoot(name), {strict, vmMemory: null})
const render = (r: StatusRecord, verbose = false) => plain(renderStatus(r, {verbose}))

describe('renderStatus', () => {
  it('virtio-iommu: irq.remapping FAIL with its fix, and "not ready" with the counts', () => {
    const text = render(status('virtio'))
    const lines = text.split('\n')
    const at = lines.findIndex((l) => /^FAIL {2}irq\.remapping/.test(l))
    assert.ok(at >= 0, text)
    assert.match(lines[at + 2]!, /^\s+fix: .*EPERM on VFIO_DEVICE_BIND_IOMMUFD/)
    assert.match(lines.at(-1)!, /^not ready: \d+ pass, \d+ warn, 1 fail, \d+ skip$/)
  })

  it('titles line up whatever the result word and the id length', () => {
    const heads = render(status('intel'))
      .split('\n')
      .filter((l) => /^(PASS|WARN|FAIL|SKIP) /.test(l))
    assert.ok(heads.length > 3)
    const titleColumn = heads.map((l) => /^\S+ +\S+ +/.exec(l)![0].length)
    assert.equal(new Set(titleColumn).size, 1, heads.join('\n'))
  })

  it('a passing check shows no fix; evidence only with verbose', () => {
    const r = status('intel')
    const quiet = render(r)
    const verbose = render(r, true)
    const present = r.checks.find((c) => c.id === 'iommu.present')!
    assert.ok(present.evidence.length > 0)
    for (const e of present.evidence) {
      assert.ok(!quiet.includes(`${e.path}: `), e.path)
      assert.match(verbose, new RegExp(`^ +${e.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `, 'm'))
    }
    // Its title and summary, then straight on to the next check.
    const lines = quiet.split('\n')
    const at = lines.indexOf(lineOf(quiet, 'PASS  iommu.present'))
    assert.match(lines[at + 2]!, /^(PASS|WARN|FAIL|SKIP) /)
  })

  it('an absent file in the evidence reads (absent)', () => {
    const r = status('intel')
    const withAbsent: StatusRecord = {
      ...r,
      checks: [{...r.checks[0]!, evidence: [{path: '/sys/firmware/acpi/tables/IVRS', value: null}]}],
    }
    assert.match(render(withAbsent, true), /\/sys\/firmware\/acpi\/tables\/IVRS: \(absent\)/)
  })

  it('no IOMMU: says so first, and the verdict is "not available"', () => {
    const text = render(status('none'))
    assert.match(text, /^No IOMMU is in use on this host\. Device passthrough and iommufd need one\.\n\n/)
    assert.match(text.split('\n').at(-1)!, /^not available: /)
  })

  it('--strict is named in the verdict', () => {
    assert.match(render(status('intel', true)).split('\n').at(-1)!, /^not ready: .* \(strict\)$/)
  })
})
