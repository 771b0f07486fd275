/**
 * Runs inside the test VM (any topology: the iommufd selftest's mock devices need no real
 * IOMMU): creates mock devices with IOMMU_TEST_CMD, then drives nesting through Iommufd's own
 * hwptAlloc, invalidate, viommuAlloc and vdeviceAlloc as the kernel selftest does
 * (tools/testing/selftests/iommu/iommufd.c: TEST_F(iommufd_ioas, alloc_hwpt_nested),
 * TEST_F(iommufd_viommu, viommu_negative_tests), vdevice_alloc, vdevice_cache), recording the
 * kernel's answer to each step and, for each invalidation, the entry count it wrote back.
 * Prints one JSON object; test/vm/nested.test.ts holds the expectations.
 * Usage: node --import tsx test/vm/guest/nested-mock.ts
 */
import {Iommufd, UserData} from '../../../src/iommufd/iommufd.js'
import {PartialSyscallError} from '../../../src/native/errors.js'
import * as T from '../../../src/native/uapi/iommufd-test.js'
import * as U from '../../../src/native/uapi/iommufd.js'
import {CaseLog, mockDevice, testCmd} from './mock.js'

const fd = Iommufd.open()
const log = new CaseLog()
const record = log.record.bind(log)
/** What entry_num said after each invalidation, success or not: case → handled. */
const handled: Record<string, number> = {}

const NO_SUCH_ID = 0xfffff
const data: UserData = {
  type: T.IOMMU_HWPT_DATA_SELFTEST,
  bytes: T.iommu_hwpt_selftest.encode({iotlb: T.IOMMU_TEST_IOTLB_DEFAULT}),
}
const hwptInv = (...entries: {flags?: number; iotlb_id?: number}[]) => ({
  dataType: T.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  entryLen: T.iommu_hwpt_invalidate_selftest.size,
  entries: T.iommu_hwpt_invalidate_selftest.encodeArray(entries),
})

function invalidate(name: string, id: number, req: Parameters<Iommufd['invalidate']>[1]): void {
  record(name, () => {
    try {
      handled[name] = fd.invalidate(id, req)
    } catch (error) {
      if (error instanceof PartialSyscallError) handled[name] = error.done
      throw error
    }
  })
}

/** IOMMU_TEST_OP_MD_CHECK_IOTLB: EINVAL unless entry `iotlbId` of the nested HWPT holds `value`. */
const checkIotlb = (hwpt: number, iotlbId: number, value: number) =>
  testCmd(fd, T.IOMMU_TEST_OP_MD_CHECK_IOTLB, hwpt, {'check_iotlb.id': iotlbId, 'check_iotlb.iotlb': value})

const ioas = fd.ioasAlloc()
let dev = {stdev: 0, hwpt: 0, idev: 0}
let dev2 = {stdev: 0, hwpt: 0, idev: 0}
record('create a mock device', () => {
  dev = mockDevice(fd, ioas, 0)
})
record('create a second mock device', () => {
  dev2 = mockDevice(fd, ioas, 0)
})

// 1. Nest-parent and nested HWPTs.
let parent = 0
let notParent = 0
record('IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_NEST_PARENT', () => {
  parent = fd.hwptAlloc(dev.idev, ioas, U.IOMMU_HWPT_ALLOC_NEST_PARENT)
})
record('IOMMU_HWPT_ALLOC without NEST_PARENT', () => {
  notParent = fd.hwptAlloc(dev.idev, ioas, 0)
})
record('nested: data_type NONE with data', () =>
  fd.hwptAlloc(dev.idev, parent, 0, {type: U.IOMMU_HWPT_DATA_NONE, bytes: data.bytes}),
)
record('nested: data type IOMMU_HWPT_DATA_SELFTEST + 1', () =>
  fd.hwptAlloc(dev.idev, parent, 0, {type: T.IOMMU_HWPT_DATA_SELFTEST + 1, bytes: data.bytes}),
)
record('nested: VT-d stage-1 data on the mock', () =>
  fd.hwptAlloc(dev.idev, parent, 0, {
    type: U.IOMMU_HWPT_DATA_VTD_S1,
    bytes: U.iommu_hwpt_vtd_s1.encode({pgtbl_addr: 0x10_0000n, addr_width: 48}),
  }),
)
record('nested: data one byte shorter than offsetofend(iotlb)', () =>
  fd.hwptAlloc(dev.idev, parent, 0, {
    type: T.IOMMU_HWPT_DATA_SELFTEST,
    bytes: data.bytes.subarray(0, T.iommu_hwpt_selftest.offsetOfEnd('iotlb') - 1),
  }),
)
record('nested: with IOMMU_HWPT_ALLOC_NEST_PARENT', () =>
  fd.hwptAlloc(dev.idev, parent, U.IOMMU_HWPT_ALLOC_NEST_PARENT, data),
)
record('nested: on a parent allocated without NEST_PARENT', () => fd.hwptAlloc(dev.idev, notParent, 0, data))
let nested = 0
let nested2 = 0
record('nested: on the nest-parent', () => {
  nested = fd.hwptAlloc(dev.idev, parent, 0, data)
})
record('nested: a second on the same parent', () => {
  nested2 = fd.hwptAlloc(dev.idev, parent, 0, data)
})
record('nested: every IOTLB entry starts at the data iotlb', () => {
  for (let i = 0; i <= T.MOCK_NESTED_DOMAIN_IOTLB_ID_MAX; i++)
    checkIotlb(nested, i, T.IOMMU_TEST_IOTLB_DEFAULT)
})
record('nested: on a nested HWPT', () => fd.hwptAlloc(dev.idev, nested, 0, data))
record('destroy the parent while nested HWPTs are on it', () => fd.destroy(parent))

// 2. IOMMU_HWPT_INVALIDATE.
invalidate('invalidate: on the parent', parent, hwptInv({}))
invalidate('invalidate: zero entries, to check the data type', nested, hwptInv())
invalidate('invalidate: IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID', nested, {
  ...hwptInv({}),
  dataType: T.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
})
invalidate('invalidate: the VT-d stage-1 array on the mock', nested, {
  dataType: U.IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
  entryLen: U.iommu_hwpt_vtd_s1_invalidate.size,
  entries: U.iommu_hwpt_vtd_s1_invalidate.encode({addr: 0n, npages: (1n << 64n) - 1n}),
})
invalidate('invalidate: an entry with unknown flag bits', nested, hwptInv({flags: 0xffffffff}))
invalidate(
  'invalidate: an iotlb_id past the last',
  nested,
  hwptInv({iotlb_id: T.MOCK_NESTED_DOMAIN_IOTLB_ID_MAX + 1}),
)
invalidate(
  'invalidate: entry 0 good, entry 1 with unknown flag bits',
  nested,
  hwptInv({iotlb_id: 0}, {flags: 0xffffffff, iotlb_id: 1}),
)
record('after it: IOTLB entry 0 cleared, entry 1 not', () => {
  checkIotlb(nested, 0, 0)
  checkIotlb(nested, 1, T.IOMMU_TEST_IOTLB_DEFAULT)
})
invalidate('invalidate: entries 2 and 3', nested, hwptInv({iotlb_id: 2}, {iotlb_id: 3}))
invalidate(
  'invalidate: IOMMU_TEST_INVALIDATE_FLAG_ALL on the second nested HWPT',
  nested2,
  hwptInv({flags: T.IOMMU_TEST_INVALIDATE_FLAG_ALL}),
)
record('after it: every IOTLB entry of the second nested HWPT cleared', () => {
  for (let i = 0; i <= T.MOCK_NESTED_DOMAIN_IOTLB_ID_MAX; i++) checkIotlb(nested2, i, 0)
})

// 3. vIOMMU and vDEVICE.
record('vIOMMU: hwpt_id 0', () => fd.viommuAlloc(dev.idev, 0, T.IOMMU_VIOMMU_TYPE_SELFTEST))
record('vIOMMU: on an HWPT without NEST_PARENT', () =>
  fd.viommuAlloc(dev.idev, notParent, T.IOMMU_VIOMMU_TYPE_SELFTEST),
)
record('vIOMMU: type 0xdead', () => fd.viommuAlloc(dev.idev, parent, 0xdead))
let viommu = 0
record('vIOMMU: IOMMU_VIOMMU_TYPE_SELFTEST on the nest-parent', () => {
  viommu = fd.viommuAlloc(dev.idev, parent, T.IOMMU_VIOMMU_TYPE_SELFTEST).id
})
let onViommu = 0
record('nested: on the vIOMMU', () => {
  onViommu = fd.hwptAlloc(dev.idev, viommu, 0, data)
})
record('attach to the nested HWPT on the vIOMMU before a vDEVICE', () =>
  testCmd(fd, T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, dev.stdev, {'mock_domain_replace.pt_id': onViommu}),
)
let vdev = 0
record('vDEVICE: virtual id 0x99', () => {
  vdev = fd.vdeviceAlloc(viommu, dev.idev, 0x99n)
})
record('attach to the nested HWPT on the vIOMMU after the vDEVICE', () =>
  testCmd(fd, T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, dev.stdev, {'mock_domain_replace.pt_id': onViommu}),
)
record('vDEVICE: a second for the same device', () => fd.vdeviceAlloc(viommu, dev.idev, 0x88n))
record('vDEVICE: another device at the virtual id taken', () => fd.vdeviceAlloc(viommu, dev2.idev, 0x99n))
record('vDEVICE: another device at a free virtual id', () => fd.vdeviceAlloc(viommu, dev2.idev, 0x88n))
record('vDEVICE: a vIOMMU id that names nothing', () => fd.vdeviceAlloc(NO_SUCH_ID, dev.idev, 0x77n))
record('destroy the vIOMMU while it has a vDEVICE', () => fd.destroy(viommu))
const viommuInv = (vdevId: number) => ({
  dataType: T.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
  entryLen: T.iommu_viommu_invalidate_selftest.size,
  entries: T.iommu_viommu_invalidate_selftest.encode({vdev_id: vdevId, cache_id: 0}),
})
invalidate('invalidate the vIOMMU: the device at virtual id 0x99', viommu, viommuInv(0x99))
invalidate('invalidate the vIOMMU: a virtual id no vDEVICE has', viommu, viommuInv(0x77))
record('back to the IOAS, then destroy the vDEVICE', () => {
  testCmd(fd, T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, dev.stdev, {'mock_domain_replace.pt_id': ioas})
  fd.destroy(vdev)
})

fd.close()
console.log(JSON.stringify({cases: log.cases, handled, ids: {ioas, parent, nested, viommu, vdev}}))
