import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {ProbeRecord} from '../../src/model/probe.js'
import {renderProbe} from '../../src/render/probe.js'
import {column, lineOf, plain} from '../helpers/roots.js'

// By hand: a probe needs a device on vfio-pci and /dev/iommu (the VM tier runs it for real).
const record: ProbeRecord = {
  bdf: '0000:00:03.0',
  path: 'iommufd',
  ok: true,
  steps: [
    {step: 'open /dev/iommu', call: 'open', result: 'ok', detail: 'fd 3', errno: null},
    {
      step: 'dirty tracking HWPT',
      call: 'IOMMU_HWPT_ALLOC',
      result: 'unsupported',
      detail: 'this IOMMU cannot track dirty pages',
      errno: 'EOPNOTSUPP',
    },
    {
      step: 'PASID attach',
      call: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      result: 'skipped',
      detail: 'the device has no PASID capability',
      errno: null,
    },
  ],
}

describe('renderProbe', () => {
  it("each step's own result word, its call, and the errno before the reason", () => {
    const text = plain(renderProbe(record))
    const result = column(text, 'RESULT')
    const detail = column(text, 'DETAIL')
    assert.equal(result(lineOf(text, 'ok')), 'ok')
    const dirty = lineOf(text, 'unsupported')
    assert.match(dirty, /dirty tracking HWPT\s+IOMMU_HWPT_ALLOC/)
    assert.equal(detail(dirty), 'EOPNOTSUPP: this IOMMU cannot track dirty pages')
    assert.equal(result(lineOf(text, 'skipped')), 'skipped')
  })

  it('the verdict counts the steps that worked; unsupported is not failure', () => {
    assert.match(plain(renderProbe(record)), /\n\niommufd works with this device \(1 of 3 steps ok\)$/)
  })

  it('legacy VFIO is named as such, and a failed step turns the verdict', () => {
    assert.match(plain(renderProbe({...record, path: 'legacy'})), /legacy VFIO works with this device/)
    const failed: ProbeRecord = {
      ...record,
      ok: false,
      steps: [
        {
          step: 'bind',
          call: 'VFIO_DEVICE_BIND_IOMMUFD',
          result: 'failed',
          detail: 'no interrupt remapping',
          errno: 'EPERM',
        },
      ],
    }
    const text = plain(renderProbe(failed))
    assert.equal(column(text, 'RESULT')(lineOf(text, 'failed')), 'failed')
    assert.match(text, /some steps failed \(0 of 1 steps ok\)$/)
  })
})
