// `probe`'s iommufd cycle driven by the in-memory twin of the kernel (test/helpers/fake-kernel.ts),
// which refuses what drivers/iommu/iommufd/ refuses: which steps a user reads, what a failure
// skips, the order in which what was made is taken down (last made, first gone), and that nothing
// is left open whatever failed. The VM tier (test/vm/iommufd.test.ts) runs the same cycle for real.
import assert from 'node:assert/strict'
import * as os from 'node:os'
import {describe, it} from 'node:test'

import {runProbe} from '../../src/model/probe.js'
import {IOMMU_HWPT_DATA_VTD_S1} from '../../src/native/uapi/iommufd.js'
import {FakeKernel} from '../helpers/fake-kernel.js'

const E = os.constants.errno
const DEV = '0000:00:03.0'
// The MSI window every VT-d device reserves (../shared/VM.md's reserved regions).
const MSI = {start: 0xfee00000n, last: 0xfeefffffn}
const nothingLeft = {fds: [], memory: 0, locked: 0n, objects: 0}

/** Each step as a user scans it: result, step, and the errno when there is one. */
const lines = (steps: {step: string; result: string; errno: string | null}[]) =>
  steps.map((s) => `${s.result} ${s.step}${s.errno ? ` (${s.errno})` : ''}`)

/** The calls the kernel took after the last map or HWPT: the teardown, in order. */
const teardown = (k: FakeKernel) => k.log.slice(k.log.findIndex((l) => l.startsWith('detach')))

/** An IOMMU that offers nesting (VT-d stage-1 data, as QEMU's intel-iommu with x-flts=on). */
const NESTING = {nestedData: [IOMMU_HWPT_DATA_VTD_S1]}

describe('probe over the kernel interface', () => {
  it('an IOMMU without nesting (QEMU VT-d without x-flts): the nest-parent HWPT is unsupported, not a failure', () => {
    const k = new FakeKernel([{bdf: DEV}])
    const record = runProbe(k, DEV)
    assert.equal(record.ok, true)
    const nest = record.steps.find((s) => s.step === 'allocate a nest-parent HWPT')
    assert.deepEqual([nest?.result, nest?.errno], ['unsupported', 'EOPNOTSUPP'])
    assert.ok(!record.steps.some((s) => s.step === 'destroy the nest-parent HWPT'), 'nothing to destroy')
  })

  it('runs every step on a device without dirty tracking or PASID, then takes down in reverse', () => {
    const k = new FakeKernel([{bdf: DEV, reserved: [MSI], ...NESTING}])
    const record = runProbe(k, DEV)
    assert.equal(record.ok, true, 'unsupported features are not failures')
    assert.equal(record.path, 'iommufd')
    assert.deepEqual(lines(record.steps), [
      'ok open /dev/iommu',
      'ok allocate an IOAS',
      'ok open /dev/vfio/devices/vfio0',
      'ok bind the device',
      'ok attach to the IOAS',
      'ok allocate a 2 MiB buffer',
      'ok map at an IOVA the kernel picks',
      'ok read the usable IOVA ranges',
      'ok map at a fixed IOVA',
      'ok allocate an HWPT',
      'unsupported allocate an HWPT with dirty tracking (EOPNOTSUPP)',
      'ok allocate a nest-parent HWPT',
      'ok replace: attach to the HWPT',
      // The HWPT was not allocated with IOMMU_HWPT_ALLOC_PASID: the kernel says EINVAL.
      'unsupported attach PASID 1 to the HWPT (EINVAL)',
      'ok detach the device',
      'ok destroy the nest-parent HWPT',
      'ok destroy the HWPT',
      'ok unmap the fixed IOVA',
      'ok unmap the kernel-picked IOVA',
      'ok destroy the IOAS',
    ])
    const step = (name: string) => record.steps.find((s) => s.step === name)!
    // Once attached, the MSI window is out of the IOAS's space; the fixed map is above 4 GiB.
    assert.equal(step('read the usable IOVA ranges').detail, '0x0-0xfedfffff, 0xfef00000-0xffffffffffffffff')
    assert.equal(step('map at a fixed IOVA').detail, 'iova 0x100000000')
    assert.match(step('attach PASID 1 to the HWPT').detail, /no PASID capability/)
    assert.deepEqual(teardown(k), [
      `detach ${DEV}`,
      'destroy hwpt 5',
      'destroy hwpt 4',
      'unmap ioas 1 0x100000000+0x200000',
      'unmap ioas 1 0x0+0x200000',
      'destroy ioas 1',
      `close ${DEV}`,
      'close iommufd',
    ])
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('a map refused mid-way: the steps after it still run, its unmap is not tried, the rest goes in reverse', () => {
    const k = new FakeKernel([{bdf: DEV, dirtyTracking: true, ...NESTING}])
    k.failNext.set('map ioas 1 0x100000000', E.ENOMEM)
    const record = runProbe(k, DEV)
    assert.equal(record.ok, false)
    const failed = record.steps.filter((s) => s.result === 'failed')
    assert.deepEqual(lines(failed), ['failed map at a fixed IOVA (ENOMEM)'])
    assert.match(failed[0]!.detail, /RLIMIT_MEMLOCK/)
    assert.deepEqual(lines(record.steps.slice(record.steps.indexOf(failed[0]!) + 1)), [
      'ok allocate an HWPT',
      'ok allocate an HWPT with dirty tracking',
      'ok allocate a nest-parent HWPT',
      'ok replace: attach to the HWPT',
      'unsupported attach PASID 1 to the HWPT (EINVAL)',
      'ok detach the device',
      'ok destroy the nest-parent HWPT',
      'ok destroy the dirty-tracking HWPT',
      'ok destroy the HWPT',
      'ok unmap the kernel-picked IOVA',
      'ok destroy the IOAS',
    ])
    assert.deepEqual(teardown(k), [
      `detach ${DEV}`,
      'destroy hwpt 6',
      'destroy hwpt 5',
      'destroy hwpt 4',
      'unmap ioas 1 0x0+0x200000',
      'destroy ioas 1',
      `close ${DEV}`,
      'close iommufd',
    ])
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('a refused bind skips the rest, destroys the IOAS, and closes the device', () => {
    const k = new FakeKernel([{bdf: DEV, ...NESTING}])
    k.failNext.set(`bind ${DEV}`, E.EPERM)
    const record = runProbe(k, DEV)
    assert.equal(record.ok, false)
    assert.deepEqual(lines(record.steps), [
      'ok open /dev/iommu',
      'ok allocate an IOAS',
      'ok open /dev/vfio/devices/vfio0',
      'failed bind the device (EPERM)',
      'skipped the rest',
      'ok destroy the IOAS',
    ])
    assert.match(record.steps[3]!.detail, /no interrupt remapping.*allow_unsafe_interrupts/)
    assert.deepEqual(k.log.slice(-3), ['destroy ioas 1', `close ${DEV}`, 'close iommufd'])
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('a failed detach does not stop the teardown: the busy HWPTs and IOAS go when the descriptors close', () => {
    const k = new FakeKernel([{bdf: DEV, ...NESTING}])
    k.failNext.set(`detach ${DEV}`, E.EIO)
    const record = runProbe(k, DEV)
    assert.equal(record.ok, false)
    const teardownSteps = record.steps.slice(record.steps.findIndex((s) => s.step === 'detach the device'))
    assert.deepEqual(lines(teardownSteps), [
      'failed detach the device (EIO)',
      'ok destroy the nest-parent HWPT',
      // Still attached: IOMMU_DESTROY of the HWPT it uses, and of the IOAS under it, is EBUSY.
      'failed destroy the HWPT (EBUSY)',
      'ok unmap the fixed IOVA',
      'ok unmap the kernel-picked IOVA',
      'failed destroy the IOAS (EBUSY)',
    ])
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('says why a device cannot be probed before opening anything', () => {
    const k = new FakeKernel([])
    assert.throws(() => runProbe(k, DEV), {code: 'NO_SUCH_DEVICE'})
    assert.deepEqual(k.log, [])
  })
})
