/**
 * Runs inside the test VM (any topology: the iommufd selftest's mock devices need no real
 * IOMMU): creates a PASID-capable mock device with IOMMU_TEST_CMD, allocates HWPTs for it
 * through Iommufd.hwptAlloc, reads its IOMMU_GET_HW_INFO through Iommufd.hwInfo, then walks the
 * PASID attach / replace / detach sequence of the kernel selftest
 * (tools/testing/selftests/iommu/iommufd.c, TEST_F(iommufd_device_pasid, pasid_attach)),
 * recording the kernel's answer to each step. Prints one JSON object; test/vm/pasid.test.ts
 * holds the expectations.
 * Usage: node --import tsx test/vm/guest/pasid-mock.ts
 */
import {Iommufd} from '../../../src/iommufd/iommufd.js'
import * as T from '../../../src/native/uapi/iommufd-test.js'
import {CaseLog, mockDevice, testCmd} from './mock.js'
import {IOMMU_HWPT_ALLOC_PASID} from '../../../src/native/uapi/iommufd.js'

const fd = Iommufd.open()

const log = new CaseLog()
const record = log.record.bind(log)
const cases = log.cases

const pasidAttach = (stdev: number, pasid: number, ptId: number) =>
  testCmd(fd, T.IOMMU_TEST_OP_PASID_ATTACH, stdev, {'pasid_attach.pasid': pasid, 'pasid_attach.pt_id': ptId})
const pasidReplace = (stdev: number, pasid: number, ptId: number) =>
  testCmd(fd, T.IOMMU_TEST_OP_PASID_REPLACE, stdev, {
    'pasid_replace.pasid': pasid,
    'pasid_replace.pt_id': ptId,
  })
const pasidDetach = (stdev: number, pasid: number) =>
  testCmd(fd, T.IOMMU_TEST_OP_PASID_DETACH, stdev, {'pasid_detach.pasid': pasid})
/** hwptId 0 checks that nothing is attached to the PASID. */
const pasidCheck = (stdev: number, pasid: number, hwptId: number) =>
  testCmd(fd, T.IOMMU_TEST_OP_PASID_CHECK_HWPT, stdev, {
    'pasid_check.pasid': pasid,
    'pasid_check.hwpt_id': hwptId,
  })
const mockDomainReplace = (stdev: number, ptId: number) =>
  testCmd(fd, T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev, {'mock_domain_replace.pt_id': ptId})

const NO_SUCH_ID = 0xfffff
const PASID = 100
const ioas = fd.ioasAlloc()

// 1. The mock devices: one with PASID support, one without (as the fixture's no_pasid variant).
let dev = {stdev: 0, hwpt: 0, idev: 0}
let plain = {stdev: 0, hwpt: 0, idev: 0}
record('create a mock device with MOCK_FLAGS_DEVICE_PASID', () => {
  dev = mockDevice(fd, ioas, T.MOCK_FLAGS_DEVICE_PASID)
})
record('create a mock device without PASID', () => {
  plain = mockDevice(fd, ioas, 0)
})

// 2. The project's own code against the PASID-capable device.
let hwInfo: {type: number; maxPasidLog2: number; dataLen: number; flags: number; testReg: number} | null =
  null
record('IOMMU_GET_HW_INFO on the PASID mock device', () => {
  const info = fd.hwInfo(dev.idev)
  const data = info.data.length >= T.iommu_test_hw_info.size ? T.iommu_test_hw_info.decode(info.data) : null
  hwInfo = {
    type: info.type,
    maxPasidLog2: info.maxPasidLog2,
    dataLen: info.data.length,
    flags: data?.flags ?? -1,
    testReg: data?.test_reg ?? -1,
  }
})
let plainHwInfo: {type: number; maxPasidLog2: number} | null = null
record('IOMMU_GET_HW_INFO on the mock device without PASID', () => {
  const info = fd.hwInfo(plain.idev)
  plainHwInfo = {type: info.type, maxPasidLog2: info.maxPasidLog2}
})
let hwptA = 0
let hwptB = 0
let hwptNoPasid = 0
record('IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_PASID (A)', () => {
  hwptA = fd.hwptAlloc(dev.idev, ioas, IOMMU_HWPT_ALLOC_PASID)
})
record('IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_PASID (B)', () => {
  hwptB = fd.hwptAlloc(dev.idev, ioas, IOMMU_HWPT_ALLOC_PASID)
})
record('IOMMU_HWPT_ALLOC without IOMMU_HWPT_ALLOC_PASID', () => {
  hwptNoPasid = fd.hwptAlloc(dev.idev, ioas, 0)
})

// 3. and 4. The selftest's sequence, with A in the role of its s2_hwpt_id.
record('detach a PASID never attached', () => pasidDetach(dev.stdev, PASID))
record('attach while the RID is on its auto domain (not PASID-compatible)', () =>
  pasidAttach(dev.stdev, PASID, hwptA),
)
record('check: nothing attached after the refused attach', () => pasidCheck(dev.stdev, PASID, 0))
record('replace the RID onto A', () => mockDomainReplace(dev.stdev, hwptA))
record('attach to an HWPT allocated without IOMMU_HWPT_ALLOC_PASID', () =>
  pasidAttach(dev.stdev, PASID, hwptNoPasid),
)
record('check: nothing attached after the non-PASID HWPT', () => pasidCheck(dev.stdev, PASID, 0))
record('attach to the IOAS', () => pasidAttach(dev.stdev, PASID, ioas))
record('check: nothing attached after the IOAS', () => pasidCheck(dev.stdev, PASID, 0))
record('attach to a pt id that names nothing', () => pasidAttach(dev.stdev, PASID, NO_SUCH_ID))
record('attach on a mock device id that names nothing', () => pasidAttach(NO_SUCH_ID, PASID, hwptA))
record('attach PASID 1 << MOCK_PASID_WIDTH (out of range)', () =>
  pasidAttach(dev.stdev, 1 << T.MOCK_PASID_WIDTH, hwptA),
)
record('check: nothing attached at the out-of-range PASID', () =>
  pasidCheck(dev.stdev, 1 << T.MOCK_PASID_WIDTH, 0),
)
record('attach the largest PASID, (1 << MOCK_PASID_WIDTH) - 1', () =>
  pasidAttach(dev.stdev, (1 << T.MOCK_PASID_WIDTH) - 1, hwptA),
)
record('detach the largest PASID', () => pasidDetach(dev.stdev, (1 << T.MOCK_PASID_WIDTH) - 1))
record('attach to A', () => pasidAttach(dev.stdev, PASID, hwptA))
record('check: A attached', () => pasidCheck(dev.stdev, PASID, hwptA))
record('check against B while A is attached', () => pasidCheck(dev.stdev, PASID, hwptB))
record('attach to B while attached to A', () => pasidAttach(dev.stdev, PASID, hwptB))
record('attach to A again while attached to A', () => pasidAttach(dev.stdev, PASID, hwptA))
record('replace the RID onto the non-PASID HWPT while a PASID is attached', () =>
  mockDomainReplace(dev.stdev, hwptNoPasid),
)
record('replace to B', () => pasidReplace(dev.stdev, PASID, hwptB))
record('check: B attached', () => pasidCheck(dev.stdev, PASID, hwptB))
record('check against A after the replace', () => pasidCheck(dev.stdev, PASID, hwptA))
record('detach', () => pasidDetach(dev.stdev, PASID))
record('check: detached (hwpt_id 0)', () => pasidCheck(dev.stdev, PASID, 0))
record('check against B after the detach', () => pasidCheck(dev.stdev, PASID, hwptB))
record('replace a PASID never attached', () => pasidReplace(dev.stdev, 200, hwptB))
record('attach IOMMU_TEST_PASID_RESERVED to A', () =>
  pasidAttach(dev.stdev, T.IOMMU_TEST_PASID_RESERVED, hwptA),
)
record('replace IOMMU_TEST_PASID_RESERVED to B (the mock driver fails it)', () =>
  pasidReplace(dev.stdev, T.IOMMU_TEST_PASID_RESERVED, hwptB),
)
record('check: A still attached at IOMMU_TEST_PASID_RESERVED', () =>
  pasidCheck(dev.stdev, T.IOMMU_TEST_PASID_RESERVED, hwptA),
)
record('detach IOMMU_TEST_PASID_RESERVED', () => pasidDetach(dev.stdev, T.IOMMU_TEST_PASID_RESERVED))
record('attach on the mock device without PASID, its RID on its auto domain', () =>
  pasidAttach(plain.stdev, PASID, hwptA),
)
record('replace the RID of the mock device without PASID onto A', () => mockDomainReplace(plain.stdev, hwptA))
record('attach on the mock device without PASID, its RID on A', () => pasidAttach(plain.stdev, PASID, hwptA))

fd.close()
console.log(
  JSON.stringify({
    ids: {ioas, ...dev, plainStdev: plain.stdev, plainIdev: plain.idev, hwptA, hwptB, hwptNoPasid},
    hwInfo,
    plainHwInfo,
    cases,
  }),
)
