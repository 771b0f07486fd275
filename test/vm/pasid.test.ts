import assert from 'node:assert/strict'
import {describe} from 'node:test'

import {
  IOMMU_HW_INFO_SELFTEST_REGVAL,
  IOMMU_HW_INFO_TYPE_SELFTEST,
  iommu_test_hw_info,
  MOCK_PASID_WIDTH,
} from '../../src/native/uapi/iommufd-test.js'
import {vmIt} from './guest.js'
import {explain, runInGuest} from './harness.js'

/**
 * What the 7.2 kernel answers, in order, to each step of test/vm/guest/pasid-mock.ts. Each
 * expectation is taken from tools/testing/selftests/iommu/iommufd.c (cited as iommufd.c:LINE,
 * TEST_F(iommufd_device_pasid, pasid_attach) unless said otherwise) or, where the selftest
 * has no such case, from the kernel source that decides it. The guest's HWPT A plays the
 * selftest's s2_hwpt_id (a paging HWPT allocated with IOMMU_HWPT_ALLOC_PASID); B is a second
 * one; the non-PASID HWPT plays parent_hwpt_id (allocated without IOMMU_HWPT_ALLOC_PASID).
 */
const EXPECTED: [step: string, errno: string][] = [
  // FIXTURE_SETUP(iommufd_device_pasid), iommufd.c:3332-3339: both mock devices are created.
  ['create a mock device with MOCK_FLAGS_DEVICE_PASID', 'ok'],
  ['create a mock device without PASID', 'ok'],
  // iommufd.c:807-812 (TEST_F(iommufd_ioas, ioas_get_hw_info)); the values are asserted below.
  ['IOMMU_GET_HW_INFO on the PASID mock device', 'ok'],
  ['IOMMU_GET_HW_INFO on the mock device without PASID', 'ok'],
  // iommufd.c:3408-3410 allocates s2_hwpt_id with IOMMU_HWPT_ALLOC_PASID on the IOAS.
  ['IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_PASID (A)', 'ok'],
  ['IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_PASID (B)', 'ok'],
  // iommufd.c:459 and 1615: test_cmd_hwpt_alloc(device_id, ioas_id, 0, ...) succeeds.
  ['IOMMU_HWPT_ALLOC without IOMMU_HWPT_ALLOC_PASID', 'ok'],
  // iommufd.c:3371-3374: "detach pasid without attaching ... should not result in failure".
  ['detach a PASID never attached', 'ok'],
  // iommufd.c:3412-3415: with the RID on a domain that is not PASID-compatible, PASID attach
  // is EINVAL. The mock device's RID starts on the IOAS's auto domain, which
  // iommufd_device_auto_get_domain (drivers/iommu/iommufd/device.c) allocates with flags 0,
  // so it is not PASID-compatible either (iommufd_hwpt_pasid_compat).
  ['attach while the RID is on its auto domain (not PASID-compatible)', 'EINVAL'],
  // iommufd.c:3457-3459: after a refused attach, PASID_CHECK_HWPT with hwpt_id 0 succeeds.
  ['check: nothing attached after the refused attach', 'ok'],
  // iommufd.c:3417-3418: the RID moves to the PASID-compatible HWPT.
  ['replace the RID onto A', 'ok'],
  // iommufd.c:3452-3459: an HWPT allocated without IOMMU_HWPT_ALLOC_PASID is EINVAL.
  ['attach to an HWPT allocated without IOMMU_HWPT_ALLOC_PASID', 'EINVAL'],
  ['check: nothing attached after the non-PASID HWPT', 'ok'],
  // iommufd.c:3461-3468: an IOAS as pt_id is EINVAL (its auto domain is not PASID-compatible).
  ['attach to the IOAS', 'EINVAL'],
  ['check: nothing attached after the IOAS', 'ok'],
  // No PASID case in the selftest: iommufd_device_change_pt (device.c) looks pt_id up with
  // iommufd_get_object, ENOENT for no object, as for the RID in iommufd.c:2046
  // (test_err_mock_domain_replace(ENOENT, ...) with a destroyed HWPT).
  ['attach to a pt id that names nothing', 'ENOENT'],
  // No selftest case: iommufd_test_get_selftest_obj (iommufd/selftest.c) is iommufd_get_object.
  ['attach on a mock device id that names nothing', 'ENOENT'],
  // No selftest case: iommu_attach_device_pasid (drivers/iommu/iommu.c) refuses
  // pasid >= dev->iommu->max_pasids with EINVAL; the mock device has 1 << MOCK_PASID_WIDTH
  // (selftest.c: "pasid-num-bits" MOCK_PASID_WIDTH and mock_iommu max_pasids).
  ['attach PASID 1 << MOCK_PASID_WIDTH (out of range)', 'EINVAL'],
  ['check: nothing attached at the out-of-range PASID', 'ok'],
  // The same check lets the largest PASID below max_pasids through.
  ['attach the largest PASID, (1 << MOCK_PASID_WIDTH) - 1', 'ok'],
  ['detach the largest PASID', 'ok'],
  // iommufd.c:3470-3477: attach succeeds and PASID_CHECK_HWPT confirms it.
  ['attach to A', 'ok'],
  ['check: A attached', 'ok'],
  // Not in the selftest: iommufd_test_pasid_check_hwpt (selftest.c) answers EINVAL when the
  // attached domain is not the named HWPT's, which shows the positive checks mean something.
  ['check against B while A is attached', 'EINVAL'],
  // iommufd.c:3479-3483: "attach does not allow overwrite, use REPLACE instead": EBUSY.
  ['attach to B while attached to A', 'EBUSY'],
  // iommufd.c:3503-3504: attaching the same HWPT again is EBUSY too.
  ['attach to A again while attached to A', 'EBUSY'],
  // iommufd.c:3421-3422: with a PASID attached, the RID cannot move to a non-PASID domain.
  ['replace the RID onto the non-PASID HWPT while a PASID is attached', 'EINVAL'],
  // iommufd.c:3537-3543 (and 3596-3603, replace to the paging s2_hwpt_id): replace succeeds.
  ['replace to B', 'ok'],
  ['check: B attached', 'ok'],
  ['check against A after the replace', 'EINVAL'],
  // iommufd.c:3485-3492: detach succeeds and PASID_CHECK_HWPT with hwpt_id 0 confirms it.
  ['detach', 'ok'],
  ['check: detached (hwpt_id 0)', 'ok'],
  ['check against B after the detach', 'EINVAL'],
  // iommufd.c:3512-3516: "Replace pasid 200 without attaching it, should fail with -EINVAL".
  ['replace a PASID never attached', 'EINVAL'],
  // iommufd.c:3557-3580: IOMMU_TEST_PASID_RESERVED (1024) attaches, then the mock driver
  // fakes ENOMEM on the replace (mock_domain_set_dev_pasid_nop) and the old HWPT stays.
  ['attach IOMMU_TEST_PASID_RESERVED to A', 'ok'],
  ['replace IOMMU_TEST_PASID_RESERVED to B (the mock driver fails it)', 'ENOMEM'],
  ['check: A still attached at IOMMU_TEST_PASID_RESERVED', 'ok'],
  ['detach IOMMU_TEST_PASID_RESERVED', 'ok'],
  // iommufd.c:3440-3449 (variant no_pasid): PASID attach on the device without PASID is
  // EINVAL, with its RID on its auto domain as there (3439 puts it back on the IOAS). There
  // iommufd_hwpt_pasid_compat (device.c) refuses first: the RID's domain is not PASID-compatible.
  ['attach on the mock device without PASID, its RID on its auto domain', 'EINVAL'],
  // iommufd.c:3434-3438: a PASID-compatible HWPT can hold the RID of a device without PASID.
  ['replace the RID of the mock device without PASID onto A', 'ok'],
  // iommufd.c:3441-3449: "should fail, no matter domain is pasid-compat or not". With the RID
  // on A the refusal is iommu_attach_device_pasid's range check (drivers/iommu/iommu.c): the
  // mock device's "pasid-num-bits" is 0, which dev_iommu_get_max_pasids turns into
  // max_pasids = 1 << 0 = 1, so every PASID >= 1 is out of range.
  ['attach on the mock device without PASID, its RID on A', 'EINVAL'],
]

interface GuestOutput {
  ids: Record<string, number>
  hwInfo: {type: number; maxPasidLog2: number; dataLen: number; flags: number; testReg: number} | null
  plainHwInfo: {type: number; maxPasidLog2: number} | null
  cases: {case: string; errno: string}[]
}

describe('VM: PASID attach on the iommufd selftest mock device', () => {
  vmIt('attach, replace, detach and each documented failure, as the kernel selftest tests them', async () => {
    const r = await runInGuest('none', {command: 'node --import tsx test/vm/guest/pasid-mock.ts'})
    assert.equal(r.status, 0, explain(r))
    const out: GuestOutput = JSON.parse(r.stdout)

    assert.deepEqual(
      out.cases.map((c) => [c.case, c.errno]),
      EXPECTED,
    )

    // Every object the kernel handed out has an id; the HWPTs are distinct objects.
    for (const [name, id] of Object.entries(out.ids)) assert.ok(id > 0, `${name} = ${id}`)
    assert.equal(new Set([out.ids.hwpt, out.ids.hwptA, out.ids.hwptB, out.ids.hwptNoPasid]).size, 4)

    // iommufd_utils.h _test_cmd_get_hw_info:847-873: a mock device reports the selftest type,
    // exactly sizeof(struct iommu_test_hw_info) of data, flags 0 and the magic test_reg.
    // iommufd.c:809-812: the PASID device's out_max_pasid_log2 is MOCK_PASID_WIDTH.
    assert.deepEqual(out.hwInfo, {
      type: IOMMU_HW_INFO_TYPE_SELFTEST,
      maxPasidLog2: MOCK_PASID_WIDTH,
      dataLen: iommu_test_hw_info.size,
      flags: 0,
      testReg: IOMMU_HW_INFO_SELFTEST_REGVAL,
    })
    // iommufd.c:807-808: a mock device without PASID reports out_max_pasid_log2 0.
    assert.deepEqual(out.plainHwInfo, {type: IOMMU_HW_INFO_TYPE_SELFTEST, maxPasidLog2: 0})
  })
})
