// `probe`'s iommufd cycle driven by the in-memory twin of the kernel (test/helpers/fake-kernel.ts),
// which refuses what drivers/iommu/iommufd/ refuses: which steps a user reads, what a failure
// skips, the order in which what was made is taken down (last made, first gone), and that nothing
// is left open whatever failed. The VM tier (test/vm/iommufd.test.ts) runs the same cycle for real.
import assert from 'node:assert/strict'
import * as os from 'node:os'
import {describe, it} from 'node:test'

import {runProbe} from '../../src/model/probe.js'
import * as U from '../../src/native/uapi/iommufd.js'
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

/**
 * An IOMMU that offers nesting (VT-d stage-1 data, as a host VT-d with ecap.NEST does; QEMU's
 * intel-iommu never sets NEST, with or without x-flts: hw/i386/intel_iommu.c vtd_cap_init).
 */
const NESTING = {nestedData: [U.IOMMU_HWPT_DATA_VTD_S1]}

describe('probe over the kernel interface', () => {
  it('an IOMMU without nesting (QEMU VT-d): the nest-parent HWPT is unsupported, not a failure', () => {
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

// IOMMU_GET_HW_INFO data as the drivers fill it. VT-d: ecap bits from drivers/iommu/intel/iommu.h
// (SMTS 43, SLTS 46, NEST 26), cap.CM bit 7. SMMUv3: IDR0 S1P bit 1, S2P bit 0, COHACC bit 4.
const vtdInfo = (ecap: bigint, cap = 0n) => ({
  type: U.IOMMU_HW_INFO_TYPE_INTEL_VTD,
  data: U.iommu_hw_info_vtd.encode({flags: 0, cap_reg: cap, ecap_reg: ecap}),
})
const SMTS = 1n << 43n
const SLTS = 1n << 46n
const NEST = 1n << 26n
const CM = 1n << 7n
const smmuInfo = (idr0: number, iidr = 0) => ({
  type: U.IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  data: U.iommu_hw_info_arm_smmuv3.encode({flags: 0, idr: [idr0, 16, 0, 0, 0, 0x14], iidr, aidr: 1}),
})
const nestingSteps = (steps: {step: string; result: string; errno: string | null}[]) =>
  lines(steps.filter((s) => /nest|vIOMMU|hardware info/.test(s.step)))

describe('probe --nested over the kernel interface', () => {
  it("QEMU's VT-d: no nest parent, and the registers say why (ecap.NEST 0, an emulated unit)", () => {
    const k = new FakeKernel([{bdf: DEV, hwInfo: vtdInfo(SMTS | SLTS, CM)}])
    const record = runProbe(k, DEV, {nested: true})
    assert.equal(record.ok, true, 'nesting not offered is not a failure')
    assert.deepEqual(nestingSteps(record.steps), [
      'unsupported allocate a nest-parent HWPT (EOPNOTSUPP)',
      "ok read the IOMMU's hardware info",
      'skipped allocate a vIOMMU',
      'skipped allocate a nested HWPT (vtd-s1)',
    ])
    const step = (name: string) => record.steps.find((s) => s.step === name)!
    assert.equal(
      step("read the IOMMU's hardware info").detail,
      'intel-vtd: nested data vtd-s1, no vIOMMU type',
    )
    assert.match(step('allocate a vIOMMU').detail, /no vIOMMU type for intel-vtd/)
    assert.match(
      step('allocate a nested HWPT (vtd-s1)').detail,
      /^needs a nest-parent HWPT: the VT-d unit has no nested translation \(ecap\.NEST 0\)\. cap\.CM is set.*QEMU's intel-iommu never sets ecap\.NEST.*x-flts=on/,
    )
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('a VT-d in legacy mode: nesting needs scalable mode', () => {
    const k = new FakeKernel([{bdf: DEV, hwInfo: vtdInfo(0n)}])
    const record = runProbe(k, DEV, {nested: true})
    const nested = record.steps.find((s) => s.step === 'allocate a nested HWPT (vtd-s1)')!
    assert.match(nested.detail, /legacy mode \(ecap\.SMTS 0\): nesting needs scalable mode/)
  })

  it('a VT-d with nesting: a nested HWPT on the nest parent, destroyed before it', () => {
    const k = new FakeKernel([{bdf: DEV, hwInfo: vtdInfo(SMTS | SLTS | NEST), ...NESTING}])
    const record = runProbe(k, DEV, {nested: true})
    assert.equal(record.ok, true)
    assert.deepEqual(nestingSteps(record.steps), [
      'ok allocate a nest-parent HWPT',
      "ok read the IOMMU's hardware info",
      'skipped allocate a vIOMMU',
      'ok allocate a nested HWPT (vtd-s1)',
      'ok destroy the nested HWPT',
      'ok destroy the nest-parent HWPT',
    ])
    // Objects: IOAS 1, device 2, HWPTs 3 (auto) 4 5 (nest parent); the nested one is 6, on 5.
    assert.ok(k.log.includes('alloc nested hwpt 6 on hwpt 5'), k.log.join('\n'))
    assert.deepEqual(teardown(k).slice(0, 3), [`detach ${DEV}`, 'destroy hwpt 6', 'destroy hwpt 5'])
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('an SMMUv3 with both stages: a vIOMMU on the nest parent, a nested HWPT on the vIOMMU, torn down in reverse', () => {
    const k = new FakeKernel([
      {
        bdf: DEV,
        hwInfo: smmuInfo((1 << 0) | (1 << 1) | (1 << 4)),
        nestedData: [U.IOMMU_HWPT_DATA_ARM_SMMUV3],
        viommuTypes: [U.IOMMU_VIOMMU_TYPE_ARM_SMMUV3],
      },
    ])
    const record = runProbe(k, DEV, {nested: true})
    assert.equal(record.ok, true)
    assert.deepEqual(nestingSteps(record.steps), [
      'ok allocate a nest-parent HWPT',
      "ok read the IOMMU's hardware info",
      'ok allocate a vIOMMU (arm-smmuv3)',
      'ok allocate a nested HWPT (arm-smmuv3)',
      'ok destroy the nested HWPT',
      'ok destroy the vIOMMU',
      'ok destroy the nest-parent HWPT',
    ])
    assert.ok(k.log.includes('alloc viommu 6 on hwpt 5'), k.log.join('\n'))
    assert.ok(k.log.includes('alloc nested hwpt 7 on viommu 6'), k.log.join('\n'))
    assert.deepEqual(teardown(k).slice(0, 4), [
      `detach ${DEV}`,
      'destroy hwpt 7',
      'destroy viommu 6',
      'destroy hwpt 5',
    ])
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('an Arm MMU-700 has both stages, but the kernel turns nesting off for its errata: probe says so', () => {
    const mmu700 = ((0x487 << 20) | (1 << 16) | 0x43b) >>> 0
    const k = new FakeKernel([{bdf: DEV, hwInfo: smmuInfo((1 << 0) | (1 << 1) | (1 << 4), mmu700)}])
    const record = runProbe(k, DEV, {nested: true})
    assert.equal(record.ok, true)
    const viommu = record.steps.find((s) => s.step === 'allocate a vIOMMU')!
    assert.equal(viommu.result, 'skipped')
    assert.match(
      viommu.detail,
      /needs a nest-parent HWPT: the kernel turns nesting off on the Arm MMU-700 r1p0/,
    )
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('an SMMUv3 with one stage, or none: the nest parent is refused and probe names what is missing', () => {
    for (const [idr0, says] of [
      [(1 << 1) | (1 << 4), /has stage 1 only \(IDR0 S1P 1, S2P 0\)/],
      [(1 << 0) | (1 << 4), /has stage 2 only \(IDR0 S1P 0, S2P 1\)/],
      [1 << 4, /has no translation stage \(IDR0 S1P 0, S2P 0\)/],
    ] as const) {
      const k = new FakeKernel([{bdf: DEV, hwInfo: smmuInfo(idr0)}])
      const record = runProbe(k, DEV, {nested: true})
      assert.match(record.steps.find((s) => s.step === 'allocate a vIOMMU')!.detail, says)
      assert.deepEqual(k.leftovers(), nothingLeft)
    }
  })

  it('without --nested, no hardware info is read and no vIOMMU tried', () => {
    const k = new FakeKernel([{bdf: DEV, hwInfo: vtdInfo(SMTS | SLTS | NEST), ...NESTING}])
    const record = runProbe(k, DEV)
    assert.ok(!record.steps.some((s) => /hardware info|vIOMMU|nested HWPT/.test(s.step)))
    assert.ok(!k.log.some((l) => l.startsWith('hw info')))
  })
})
