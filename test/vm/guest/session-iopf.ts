/**
 * Runs inside the test VM with a session daemon's iommufd as descriptor 3 (pidfd-getfd.py): puts
 * a mock device (IOMMU_TEST_CMD, test code only) in the session's own iommufd and raises page
 * requests into the session's fault queue, as a device with PRI would. The daemon never knows the
 * device; what it reads from its queue is what the kernel delivered.
 *   setup IOAS FAULT_QUEUE  a mock device on the IOAS, moved to a nested HWPT whose page requests
 *                           go to FAULT_QUEUE (as TEST_F(iommufd_ioas, alloc_hwpt_nested)); prints
 *                           {stdev, idev, parent, hwpt}
 *   trigger IDEV GROUP      IOMMU_TEST_OP_TRIGGER_IOPF: PASID 1, GROUP, read and write, 0xdeadbeaf
 *   teardown STDEV HWPT PARENT  the mock device, then its HWPTs
 * Usage: node --import tsx test/vm/guest/session-iopf.ts MODE ARG...
 */
import {Iommufd} from '../../../src/iommufd/iommufd.js'
import * as T from '../../../src/native/uapi/iommufd-test.js'
import * as U from '../../../src/native/uapi/iommufd.js'
import {mockDevice, testCmd} from './mock.js'

const fd = Iommufd.adopt(3)
const [mode, ...rest] = process.argv.slice(2)
const n = rest.map(Number)

if (mode === 'setup') {
  const [ioas, faultQueue] = n
  const dev = mockDevice(fd, ioas!, 0)
  const parent = fd.hwptAlloc(dev.idev, ioas!, U.IOMMU_HWPT_ALLOC_NEST_PARENT)
  const hwpt = fd.hwptAlloc(
    dev.idev,
    parent,
    U.IOMMU_HWPT_FAULT_ID_VALID,
    {
      type: T.IOMMU_HWPT_DATA_SELFTEST,
      bytes: T.iommu_hwpt_selftest.encode({iotlb: T.IOMMU_TEST_IOTLB_DEFAULT}),
    },
    faultQueue,
  )
  testCmd(fd, T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, dev.stdev, {'mock_domain_replace.pt_id': hwpt})
  console.log(JSON.stringify({stdev: dev.stdev, idev: dev.idev, parent, hwpt}))
} else if (mode === 'trigger') {
  const [idev, group] = n
  testCmd(fd, T.IOMMU_TEST_OP_TRIGGER_IOPF, 0, {
    'trigger_iopf.dev_id': idev,
    'trigger_iopf.pasid': 1,
    'trigger_iopf.grpid': group,
    'trigger_iopf.perm': U.IOMMU_PGFAULT_PERM_READ | U.IOMMU_PGFAULT_PERM_WRITE,
    'trigger_iopf.addr': 0xdeadbeafn,
  })
} else if (mode === 'teardown') {
  for (const id of n) fd.destroy(id)
} else {
  throw new Error(`unknown mode ${mode}`)
}
