import assert from 'node:assert/strict'
import {describe} from 'node:test'

import {vmIt} from './guest.js'
import {explain, runInGuest} from './harness.js'

/**
 * What the 7.2 kernel answers, in order, to each step of test/vm/guest/nested-mock.ts, with the
 * entry count IOMMU_HWPT_INVALIDATE wrote back where there is one. Each expectation is from
 * tools/testing/selftests/iommu/iommufd.c (TEST_F(iommufd_ioas, alloc_hwpt_nested) unless said
 * otherwise) and the kernel function that decides it: drivers/iommu/iommufd/hw_pagetable.c,
 * viommu.c, and the mock driver, drivers/iommu/iommufd/selftest.c.
 */
const EXPECTED: [step: string, errno: string, handled?: number][] = [
  // FIXTURE_SETUP: test_cmd_mock_domain (iommufd_test_mock_domain).
  ['create a mock device', 'ok'],
  ['create a second mock device', 'ok'],
  // test_cmd_hwpt_alloc(..., IOMMU_HWPT_ALLOC_NEST_PARENT, &parent_hwpt_id) and the 0-flag one.
  ['IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT', 'ok'],
  ['IOMMU_HWPT_ALLOC without NEST_PARENT', 'ok'],
  // Negative nested tests. iommufd_hwpt_alloc: data_type NONE with data_len is EINVAL.
  ['nested: data_type NONE with data', 'EINVAL'],
  // __mock_domain_alloc_nested: a type other than IOMMU_HWPT_DATA_SELFTEST is EOPNOTSUPP.
  ['nested: data type IOMMU_HWPT_DATA_SELFTEST + 1', 'EOPNOTSUPP'],
  // The same check: the mock takes no VT-d stage-1 data (no selftest case).
  ['nested: VT-d stage-1 data on the mock', 'EOPNOTSUPP'],
  // min_data_len - 1: iommu_copy_struct_from_user's length below offsetofend(iotlb) is EINVAL.
  ['nested: data one byte shorter than offsetofend(iotlb)', 'EINVAL'],
  // iommufd_hwpt_nested_alloc: flags other than FAULT_ID_VALID and PASID are EOPNOTSUPP.
  ['nested: with IOMMU_HWPT_ALLOC_NEST_PARENT', 'EOPNOTSUPP'],
  // iommufd_hwpt_nested_alloc: !parent->nest_parent is EINVAL (parent_hwpt_id_not_work).
  ['nested: on a parent allocated without NEST_PARENT', 'EINVAL'],
  // "Allocate two nested hwpts sharing one common parent hwpt".
  ['nested: on the nest-parent', 'ok'],
  ['nested: a second on the same parent', 'ok'],
  // test_cmd_hwpt_check_iotlb_all(nested_hwpt_id[0], IOMMU_TEST_IOTLB_DEFAULT).
  ['nested: every IOTLB entry starts at the data iotlb', 'ok'],
  // "Negative test: a nested hwpt on top of a nested hwpt": iommufd_hwpt_alloc's pt_obj type
  // IOMMUFD_OBJ_HWPT_NESTED falls to the else branch, EINVAL.
  ['nested: on a nested HWPT', 'EINVAL'],
  // "Negative test: parent hwpt now cannot be freed": EBUSY.
  ['destroy the parent while nested HWPTs are on it', 'EBUSY'],
  // "hwpt_invalidate does not support a parent hwpt": iommufd_hwpt_invalidate, EINVAL, !num_inv.
  ['invalidate: on the parent', 'EINVAL', 0],
  // "Check data_type by passing zero-length array".
  ['invalidate: zero entries, to check the data type', 'ok', 0],
  // "Negative test: Invalid data_type": mock_domain_cache_invalidate_user, EINVAL.
  ['invalidate: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID', 'EINVAL', 0],
  // The same check refuses the VT-d array on a mock HWPT (no selftest case).
  ['invalidate: the VT-d stage-1 array on the mock', 'EINVAL', 0],
  // "Negative test: invalid flag is passed": EOPNOTSUPP, !num_inv.
  ['invalidate: an entry with unknown flag bits', 'EOPNOTSUPP', 0],
  // "Negative test: invalid iotlb_id": MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1 is EINVAL.
  ['invalidate: an iotlb_id past the last', 'EINVAL', 0],
  // "Invalidate the 1st iotlb entry but fail the 2nd request": EOPNOTSUPP, num_inv == 1.
  ['invalidate: entry 0 good, entry 1 with unknown flag bits', 'EOPNOTSUPP', 1],
  // test_cmd_hwpt_check_iotlb(nested_hwpt_id[0], 0, 0) and (…, 1, IOMMU_TEST_IOTLB_DEFAULT).
  ['after it: IOTLB entry 0 cleared, entry 1 not', 'ok'],
  // "Invalidate the 3rd and 4th iotlb entries and verify": num_inv == 2.
  ['invalidate: entries 2 and 3', 'ok', 2],
  // "Invalidate all iotlb entries for nested_hwpt_id[1] and verify".
  ['invalidate: IOMMU_TEST_INVALIDATE_FLAG_ALL on the second nested HWPT', 'ok', 1],
  ['after it: every IOTLB entry of the second nested HWPT cleared', 'ok'],
  // TEST_F(iommufd_viommu, viommu_negative_tests): hwpt_id 0 is ENOENT (iommufd_get_hwpt_paging),
  // a parent without NEST_PARENT EINVAL, an unknown type EOPNOTSUPP (mock_get_viommu_size).
  ['vIOMMU: hwpt_id 0', 'ENOENT'],
  ['vIOMMU: on an HWPT without NEST_PARENT', 'EINVAL'],
  ['vIOMMU: type 0xdead', 'EOPNOTSUPP'],
  // FIXTURE_SETUP(iommufd_viommu): test_cmd_viommu_alloc and a nested HWPT on it.
  ['vIOMMU: IOMMU_VIOMMU_TYPE_SELFTEST on the nest-parent', 'ok'],
  ['nested: on the vIOMMU', 'ok'],
  // TEST_F(iommufd_viommu, viommu_alloc_nested_iopf): "Must allocate vdevice before attaching
  // to a nested hwpt": ENOENT, then the attach succeeds once there is one.
  ['attach to the nested HWPT on the vIOMMU before a vDEVICE', 'ENOENT'],
  ['vDEVICE: virtual id 0x99', 'ok'],
  ['attach to the nested HWPT on the vIOMMU after the vDEVICE', 'ok'],
  // TEST_F(iommufd_viommu, vdevice_alloc): test_err_vdevice_alloc(EEXIST, …): iommufd_vdevice_alloc_ioctl
  // refuses a device that has a vDEVICE (idev->vdev) with EEXIST...
  ['vDEVICE: a second for the same device', 'EEXIST'],
  // ...and a virtual id the vIOMMU already has (xa_insert's EBUSY, turned into EEXIST).
  ['vDEVICE: another device at the virtual id taken', 'EEXIST'],
  ['vDEVICE: another device at a free virtual id', 'ok'],
  // iommufd_get_viommu: ENOENT.
  ['vDEVICE: a vIOMMU id that names nothing', 'ENOENT'],
  // viommu_negative_tests: EBUSY while objects hold the vIOMMU.
  ['destroy the vIOMMU while it has a vDEVICE', 'EBUSY'],
  // TEST_F(iommufd_viommu, vdevice_cache): mock_viommu_cache_invalidate finds the device by its
  // virtual id (iommufd_viommu_find_dev); one it has no vDEVICE for is EINVAL, none handled.
  ['invalidate the vIOMMU: the device at virtual id 0x99', 'ok', 1],
  ['invalidate the vIOMMU: a virtual id no vDEVICE has', 'EINVAL', 0],
  ['back to the IOAS, then destroy the vDEVICE', 'ok'],
]

interface GuestOutput {
  cases: {case: string; errno: string}[]
  handled: Record<string, number>
  ids: Record<string, number>
}

describe('VM: nesting on the iommufd selftest mock device', () => {
  vmIt(
    'nested HWPTs, invalidation with the count handled, vIOMMU and vDEVICE, as the kernel selftest tests them',
    async () => {
      const r = await runInGuest('none', {command: 'node --import tsx test/vm/guest/nested-mock.ts'})
      assert.equal(r.status, 0, explain(r))
      const out: GuestOutput = JSON.parse(r.stdout)
      assert.deepEqual(
        out.cases.map((c) =>
          c.case in out.handled ? [c.case, c.errno, out.handled[c.case]] : [c.case, c.errno],
        ),
        EXPECTED,
      )
      for (const [name, id] of Object.entries(out.ids)) assert.ok(id > 0, `${name} = ${id}`)
    },
  )
})
