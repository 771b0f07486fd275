/**
 * Runs inside the test VM (intel topology, e1000e and one igb VF on vfio-pci): issues every
 * ioctl the native layer defines, once as it should be and once per failure the kernel
 * documents, as tools/testing/selftests/iommu does (a size below the kernel's minimum, one
 * byte long with a non-zero tail, a bad object id, an unknown flag). Prints one JSON object
 * per case; test/vm/ioctls.test.ts holds the expectations.
 * Usage: node --import tsx test/vm/guest/ioctl-matrix.ts CDEV_BDF LEGACY_BDF LEGACY_GROUP
 */
import {Iommufd} from '../../../src/iommufd/iommufd.js'
import {SyscallError} from '../../../src/native/errors.js'
import {ioctlBytes} from '../../../src/native/ioctl.js'
import {AnyStruct, EncodeValues, StructValues} from '../../../src/native/layout.js'
import {errnoName, ftruncate, MFD_CLOEXEC, memfdCreate} from '../../../src/native/libc.js'
import {Mapping} from '../../../src/native/mapping.js'
import * as U from '../../../src/native/uapi/iommufd.js'
import * as T from '../../../src/native/uapi/iommufd-test.js'
import * as V from '../../../src/native/uapi/vfio.js'
import {readPciDevice} from '../../../src/sysfs/pci.js'
import {Root} from '../../../src/sysfs/root.js'
import {VfioCdev} from '../../../src/vfio/cdev.js'
import {VfioContainer, VfioGroup} from '../../../src/vfio/legacy.js'
import {mockDevice} from './mock.js'

const [cdevBdf, legacyBdf, legacyGroup] = process.argv.slice(2)
const results: {ioctl: string; case: string; errno: string}[] = []
const record = (ioctl: string, c: string, fn: () => unknown) => {
  try {
    fn()
    results.push({ioctl, case: c, errno: 'ok'})
  } catch (error) {
    if (!(error instanceof SyscallError)) throw error
    results.push({ioctl, case: c, errno: error.errnoName})
  }
}
/** Issues raw bytes and records the kernel's answer. */
const raw = (fd: number, ioctl: string, c: string, request: number, bytes: Buffer) => {
  const {errno} = ioctlBytes(fd, request, bytes)
  results.push({ioctl, case: c, errno: errno ? errnoName(errno) : 'ok'})
}

/** The size cases of an extensible iommufd ioctl: below its minimum (EINVAL), one byte long with a non-zero tail (E2BIG). */
function sizes<S extends AnyStruct>(
  fd: number,
  ioctl: string,
  request: number,
  s: S,
  min: string,
  values: EncodeValues<StructValues<S>>,
) {
  raw(fd, ioctl, 'size below the minimum', request, s.encodeSized(values, s.offsetOfEnd(min) - 1))
  raw(fd, ioctl, 'one byte long, non-zero tail', request, s.encodeSized(values, s.size + 1, 0xff))
}

const MiB2 = 2n << 20n
const fd = Iommufd.open()
const buf = Mapping.anonymous(MiB2 * 2n)
const memfd = memfdCreate('iommuctl-matrix', MFD_CLOEXEC).value
ftruncate(memfd, Number(MiB2))
const cdev = readPciDevice(new Root('/'), cdevBdf!)?.vfioCdev
if (!cdev) throw new Error(`${cdevBdf} has no VFIO cdev`)
const dev = VfioCdev.open(cdev)
const devId = dev.bind(fd)
const ioas = fd.ioasAlloc()
dev.attach(ioas)

// IOMMU_IOAS_ALLOC
record('IOMMU_IOAS_ALLOC', 'success', () => fd.ioasAlloc())
raw(
  fd.fd,
  'IOMMU_IOAS_ALLOC',
  'unknown flag',
  U.IOMMU_IOAS_ALLOC,
  U.iommu_ioas_alloc.encode({flags: 1 << 30}),
)
sizes(fd.fd, 'IOMMU_IOAS_ALLOC', U.IOMMU_IOAS_ALLOC, U.iommu_ioas_alloc, 'out_ioas_id', {})

// IOMMU_DESTROY
const spare = fd.ioasAlloc()
record('IOMMU_DESTROY', 'success', () => fd.destroy(spare))
record('IOMMU_DESTROY', 'bad id', () => fd.destroy(spare))
sizes(fd.fd, 'IOMMU_DESTROY', U.IOMMU_DESTROY, U.iommu_destroy, 'id', {id: 999})

// IOMMU_IOAS_MAP
let iova = 0n
record('IOMMU_IOAS_MAP', 'success', () => (iova = fd.map(ioas, {userVa: buf.address, length: MiB2})))
record('IOMMU_IOAS_MAP', 'success, fixed IOVA', () =>
  fd.map(ioas, {userVa: buf.address + MiB2, length: MiB2, iova: 1n << 32n}),
)
record('IOMMU_IOAS_MAP', 'bad id', () => fd.map(999, {userVa: buf.address, length: MiB2}))
record('IOMMU_IOAS_MAP', 'fixed IOVA already mapped', () =>
  fd.map(ioas, {userVa: buf.address, length: MiB2, iova: 1n << 32n}),
)
raw(
  fd.fd,
  'IOMMU_IOAS_MAP',
  'unknown flag',
  U.IOMMU_IOAS_MAP,
  U.iommu_ioas_map.encode({flags: 1 << 30, ioas_id: ioas, user_va: buf.address, length: MiB2}),
)
raw(
  fd.fd,
  'IOMMU_IOAS_MAP',
  'length not a page multiple',
  U.IOMMU_IOAS_MAP,
  U.iommu_ioas_map.encode({
    flags: U.IOMMU_IOAS_MAP_READABLE,
    ioas_id: ioas,
    user_va: buf.address,
    length: 100n,
  }),
)
sizes(fd.fd, 'IOMMU_IOAS_MAP', U.IOMMU_IOAS_MAP, U.iommu_ioas_map, 'iova', {
  ioas_id: ioas,
  user_va: buf.address,
  length: MiB2,
})

// IOMMU_IOAS_MAP_FILE
record('IOMMU_IOAS_MAP_FILE', 'success', () => fd.mapFile(ioas, memfd, 0n, MiB2))
record('IOMMU_IOAS_MAP_FILE', 'bad id', () => fd.mapFile(999, memfd, 0n, MiB2))
record('IOMMU_IOAS_MAP_FILE', 'bad file descriptor', () => fd.mapFile(ioas, 9999, 0n, MiB2))
raw(
  fd.fd,
  'IOMMU_IOAS_MAP_FILE',
  'unknown flag',
  U.IOMMU_IOAS_MAP_FILE,
  U.iommu_ioas_map_file.encode({flags: 1 << 30, ioas_id: ioas, fd: memfd, length: MiB2}),
)
sizes(fd.fd, 'IOMMU_IOAS_MAP_FILE', U.IOMMU_IOAS_MAP_FILE, U.iommu_ioas_map_file, 'iova', {
  ioas_id: ioas,
  fd: memfd,
  length: MiB2,
})

// IOMMU_IOAS_IOVA_RANGES
record('IOMMU_IOAS_IOVA_RANGES', 'success', () => fd.iovaRanges(ioas))
record('IOMMU_IOAS_IOVA_RANGES', 'bad id', () => fd.iovaRanges(999))
raw(
  fd.fd,
  'IOMMU_IOAS_IOVA_RANGES',
  'no room for the ranges',
  U.IOMMU_IOAS_IOVA_RANGES,
  U.iommu_ioas_iova_ranges.encode({ioas_id: ioas, num_iovas: 0}),
)
sizes(
  fd.fd,
  'IOMMU_IOAS_IOVA_RANGES',
  U.IOMMU_IOAS_IOVA_RANGES,
  U.iommu_ioas_iova_ranges,
  'out_iova_alignment',
  {ioas_id: ioas},
)

// IOMMU_IOAS_ALLOW_IOVAS (on an IOAS with no device, so any range is allowed)
const free = fd.ioasAlloc()
record('IOMMU_IOAS_ALLOW_IOVAS', 'success', () =>
  fd.allowIovas(free, [{start: 0x10000000n, last: 0x1fffffffn}]),
)
record('IOMMU_IOAS_ALLOW_IOVAS', 'bad id', () => fd.allowIovas(999, []))
raw(
  fd.fd,
  'IOMMU_IOAS_ALLOW_IOVAS',
  'non-zero reserved',
  U.IOMMU_IOAS_ALLOW_IOVAS,
  U.iommu_ioas_allow_iovas.encode({ioas_id: free, __reserved: 1}),
)
sizes(fd.fd, 'IOMMU_IOAS_ALLOW_IOVAS', U.IOMMU_IOAS_ALLOW_IOVAS, U.iommu_ioas_allow_iovas, 'allowed_iovas', {
  ioas_id: free,
})

// IOMMU_IOAS_COPY (from the device's IOAS to the spare one)
record('IOMMU_IOAS_COPY', 'success', () => fd.copy(free, ioas, iova, MiB2, 0x10000000n))
record('IOMMU_IOAS_COPY', 'bad id', () => fd.copy(999, ioas, iova, MiB2))
raw(
  fd.fd,
  'IOMMU_IOAS_COPY',
  'unknown flag',
  U.IOMMU_IOAS_COPY,
  U.iommu_ioas_copy.encode({
    flags: 1 << 30,
    dst_ioas_id: free,
    src_ioas_id: ioas,
    length: MiB2,
    src_iova: iova,
  }),
)
sizes(fd.fd, 'IOMMU_IOAS_COPY', U.IOMMU_IOAS_COPY, U.iommu_ioas_copy, 'src_iova', {
  dst_ioas_id: free,
  src_ioas_id: ioas,
})

// IOMMU_IOAS_UNMAP
record('IOMMU_IOAS_UNMAP', 'success', () => fd.unmap(ioas, iova, MiB2))
record('IOMMU_IOAS_UNMAP', 'nothing mapped there', () => fd.unmap(ioas, iova, MiB2))
record('IOMMU_IOAS_UNMAP', 'bad id', () => fd.unmap(999, 0n, 0n))
sizes(fd.fd, 'IOMMU_IOAS_UNMAP', U.IOMMU_IOAS_UNMAP, U.iommu_ioas_unmap, 'length', {ioas_id: ioas})

// IOMMU_OPTION
record('IOMMU_OPTION', 'success, get RLIMIT_MODE', () =>
  fd.option(U.IOMMU_OPTION_RLIMIT_MODE, U.IOMMU_OPTION_OP_GET),
)
record('IOMMU_OPTION', 'success, set HUGE_PAGES on an IOAS', () =>
  fd.option(U.IOMMU_OPTION_HUGE_PAGES, U.IOMMU_OPTION_OP_SET, free, 1n),
)
record('IOMMU_OPTION', 'bad id', () => fd.option(U.IOMMU_OPTION_HUGE_PAGES, U.IOMMU_OPTION_OP_GET, 999))
record('IOMMU_OPTION', 'unknown option', () => fd.option(999, U.IOMMU_OPTION_OP_GET))
sizes(fd.fd, 'IOMMU_OPTION', U.IOMMU_OPTION, U.iommu_option, 'val64', {
  option_id: U.IOMMU_OPTION_RLIMIT_MODE,
  op: U.IOMMU_OPTION_OP_GET,
})

// IOMMU_GET_HW_INFO
record('IOMMU_GET_HW_INFO', 'success', () => fd.hwInfo(devId))
record('IOMMU_GET_HW_INFO', 'bad id', () => fd.hwInfo(999))
raw(
  fd.fd,
  'IOMMU_GET_HW_INFO',
  'unknown flag',
  U.IOMMU_GET_HW_INFO,
  U.iommu_hw_info.encode({flags: 1 << 30, dev_id: devId}),
)
sizes(fd.fd, 'IOMMU_GET_HW_INFO', U.IOMMU_GET_HW_INFO, U.iommu_hw_info, '__reserved', {dev_id: devId})

// IOMMU_HWPT_ALLOC
let hwpt = 0
record('IOMMU_HWPT_ALLOC', 'success', () => (hwpt = fd.hwptAlloc(devId, ioas)))
record('IOMMU_HWPT_ALLOC', 'bad id', () => fd.hwptAlloc(devId, 999))
record('IOMMU_HWPT_ALLOC', 'dirty tracking the unit lacks', () =>
  fd.hwptAlloc(devId, ioas, U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING),
)
record('IOMMU_HWPT_ALLOC', 'unknown flag', () => fd.hwptAlloc(devId, ioas, 1 << 30))
sizes(fd.fd, 'IOMMU_HWPT_ALLOC', U.IOMMU_HWPT_ALLOC, U.iommu_hwpt_alloc, '__reserved', {
  dev_id: devId,
  pt_id: ioas,
})

// IOMMU_HWPT_SET_DIRTY_TRACKING and IOMMU_HWPT_GET_DIRTY_BITMAP: the emulated VT-d has no
// dirty tracking, so on a plain HWPT the kernel refuses; success needs a unit that has it.
record('IOMMU_HWPT_SET_DIRTY_TRACKING', 'HWPT without dirty tracking', () => fd.setDirtyTracking(hwpt, true))
record('IOMMU_HWPT_SET_DIRTY_TRACKING', 'bad id', () => fd.setDirtyTracking(999, true))
raw(
  fd.fd,
  'IOMMU_HWPT_SET_DIRTY_TRACKING',
  'unknown flag',
  U.IOMMU_HWPT_SET_DIRTY_TRACKING,
  U.iommu_hwpt_set_dirty_tracking.encode({flags: 1 << 30, hwpt_id: hwpt}),
)
sizes(
  fd.fd,
  'IOMMU_HWPT_SET_DIRTY_TRACKING',
  U.IOMMU_HWPT_SET_DIRTY_TRACKING,
  U.iommu_hwpt_set_dirty_tracking,
  '__reserved',
  {hwpt_id: hwpt},
)
record('IOMMU_HWPT_GET_DIRTY_BITMAP', 'HWPT without dirty tracking', () =>
  fd.dirtyBitmap(hwpt, 0n, MiB2, 4096n),
)
record('IOMMU_HWPT_GET_DIRTY_BITMAP', 'bad id', () => fd.dirtyBitmap(999, 0n, MiB2, 4096n))
raw(
  fd.fd,
  'IOMMU_HWPT_GET_DIRTY_BITMAP',
  'unknown flag',
  U.IOMMU_HWPT_GET_DIRTY_BITMAP,
  U.iommu_hwpt_get_dirty_bitmap.encode({hwpt_id: hwpt, flags: 1 << 30, length: MiB2, page_size: 4096n}),
)
sizes(
  fd.fd,
  'IOMMU_HWPT_GET_DIRTY_BITMAP',
  U.IOMMU_HWPT_GET_DIRTY_BITMAP,
  U.iommu_hwpt_get_dirty_bitmap,
  'data',
  {hwpt_id: hwpt},
)

// Nesting. The emulated VT-d (no x-flts) has none, which is the refusal on the e1000e; success
// is on an iommufd selftest mock device in the same iommufd (tools/testing/selftests/iommu).
record('IOMMU_HWPT_ALLOC', 'nest-parent on the emulated VT-d', () =>
  fd.hwptAlloc(devId, ioas, U.IOMMU_HWPT_ALLOC_NEST_PARENT),
)
const mockIoas = fd.ioasAlloc()
const mock = mockDevice(fd, mockIoas, 0)
const parent = fd.hwptAlloc(mock.idev, mockIoas, U.IOMMU_HWPT_ALLOC_NEST_PARENT)
const selftestData = {
  type: T.IOMMU_HWPT_DATA_SELFTEST,
  bytes: T.iommu_hwpt_selftest.encode({iotlb: T.IOMMU_TEST_IOTLB_DEFAULT}),
}
const nested = fd.hwptAlloc(mock.idev, parent, 0, selftestData)
const selftestInv = {
  dataType: T.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  entryLen: T.iommu_hwpt_invalidate_selftest.size,
  entries: T.iommu_hwpt_invalidate_selftest.encode({iotlb_id: 1}),
}
record('IOMMU_HWPT_INVALIDATE', 'success', () => fd.invalidate(nested, selftestInv))
record('IOMMU_HWPT_INVALIDATE', 'bad id', () => fd.invalidate(999, selftestInv))
record('IOMMU_HWPT_INVALIDATE', 'a paging HWPT', () => fd.invalidate(hwpt, selftestInv))
raw(
  fd.fd,
  'IOMMU_HWPT_INVALIDATE',
  'non-zero reserved',
  U.IOMMU_HWPT_INVALIDATE,
  U.iommu_hwpt_invalidate.encode({hwpt_id: nested, data_type: selftestInv.dataType, __reserved: 1}),
)
sizes(fd.fd, 'IOMMU_HWPT_INVALIDATE', U.IOMMU_HWPT_INVALIDATE, U.iommu_hwpt_invalidate, '__reserved', {
  hwpt_id: nested,
  data_type: selftestInv.dataType,
})
let viommu = 0
record('IOMMU_VIOMMU_ALLOC', 'success', () => {
  viommu = fd.viommuAlloc(mock.idev, parent, T.IOMMU_VIOMMU_TYPE_SELFTEST).id
})
record('IOMMU_VIOMMU_ALLOC', 'bad id', () => fd.viommuAlloc(999, parent, T.IOMMU_VIOMMU_TYPE_SELFTEST))
record('IOMMU_VIOMMU_ALLOC', 'on the emulated VT-d', () =>
  fd.viommuAlloc(devId, parent, U.IOMMU_VIOMMU_TYPE_ARM_SMMUV3),
)
raw(
  fd.fd,
  'IOMMU_VIOMMU_ALLOC',
  'unknown flag',
  U.IOMMU_VIOMMU_ALLOC,
  U.iommu_viommu_alloc.encode({
    flags: 1,
    type: T.IOMMU_VIOMMU_TYPE_SELFTEST,
    dev_id: mock.idev,
    hwpt_id: parent,
  }),
)
sizes(fd.fd, 'IOMMU_VIOMMU_ALLOC', U.IOMMU_VIOMMU_ALLOC, U.iommu_viommu_alloc, 'out_viommu_id', {
  type: T.IOMMU_VIOMMU_TYPE_SELFTEST,
  dev_id: mock.idev,
  hwpt_id: parent,
})
record('IOMMU_VDEVICE_ALLOC', 'success', () => fd.vdeviceAlloc(viommu, mock.idev, 0x99n))
record('IOMMU_VDEVICE_ALLOC', 'bad id', () => fd.vdeviceAlloc(999, mock.idev, 0x88n))
record('IOMMU_VDEVICE_ALLOC', 'a device that has one', () => fd.vdeviceAlloc(viommu, mock.idev, 0x88n))
sizes(fd.fd, 'IOMMU_VDEVICE_ALLOC', U.IOMMU_VDEVICE_ALLOC, U.iommu_vdevice_alloc, 'virt_id', {
  viommu_id: viommu,
  dev_id: mock.idev,
  virt_id: 0x77n,
})

// Queues, on the mock: the fault queue and an HWPT that reports to it, a vEVENTQ and a HW
// queue on its vIOMMU (test/vm/queues.test.ts reads and answers them).
let faultId = 0
record('IOMMU_FAULT_QUEUE_ALLOC', 'success', () => {
  const fq = fd.faultQueueAlloc()
  faultId = fq.id
  fq.close()
})
raw(
  fd.fd,
  'IOMMU_FAULT_QUEUE_ALLOC',
  'unknown flag',
  U.IOMMU_FAULT_QUEUE_ALLOC,
  U.iommu_fault_alloc.encode({flags: 1}),
)
sizes(fd.fd, 'IOMMU_FAULT_QUEUE_ALLOC', U.IOMMU_FAULT_QUEUE_ALLOC, U.iommu_fault_alloc, 'out_fault_fd', {})
record('IOMMU_HWPT_ALLOC', 'nested, reporting faults to a fault queue', () =>
  fd.hwptAlloc(mock.idev, parent, U.IOMMU_HWPT_FAULT_ID_VALID, selftestData, faultId),
)
record('IOMMU_HWPT_ALLOC', 'a fault id that names nothing', () =>
  fd.hwptAlloc(mock.idev, parent, U.IOMMU_HWPT_FAULT_ID_VALID, selftestData, 999),
)
const eventLen = T.iommu_viommu_event_selftest.size
record('IOMMU_VEVENTQ_ALLOC', 'success', () =>
  fd.veventqAlloc(viommu, T.IOMMU_VEVENTQ_TYPE_SELFTEST, 2, eventLen).close(),
)
record('IOMMU_VEVENTQ_ALLOC', 'bad id', () =>
  fd.veventqAlloc(999, T.IOMMU_VEVENTQ_TYPE_SELFTEST, 2, eventLen),
)
record('IOMMU_VEVENTQ_ALLOC', 'a second of the same type', () =>
  fd.veventqAlloc(viommu, T.IOMMU_VEVENTQ_TYPE_SELFTEST, 2, eventLen),
)
record('IOMMU_VEVENTQ_ALLOC', 'depth 0', () =>
  fd.veventqAlloc(viommu, T.IOMMU_VEVENTQ_TYPE_SELFTEST + 1, 0, eventLen),
)
raw(
  fd.fd,
  'IOMMU_VEVENTQ_ALLOC',
  'unknown flag',
  U.IOMMU_VEVENTQ_ALLOC,
  U.iommu_veventq_alloc.encode({
    flags: 1,
    viommu_id: viommu,
    type: T.IOMMU_VEVENTQ_TYPE_SELFTEST,
    veventq_depth: 2,
  }),
)
sizes(fd.fd, 'IOMMU_VEVENTQ_ALLOC', U.IOMMU_VEVENTQ_ALLOC, U.iommu_veventq_alloc, 'out_veventq_fd', {
  viommu_id: viommu,
  type: T.IOMMU_VEVENTQ_TYPE_SELFTEST,
  veventq_depth: 2,
})
const PAGE = 4096n
const queueIova = fd.map(mockIoas, {userVa: buf.address, length: PAGE})
const hwQueue = (viommuId: number, iova: bigint) =>
  fd.hwQueueAlloc(viommuId, T.IOMMU_HW_QUEUE_TYPE_SELFTEST, 0, iova, PAGE)
record('IOMMU_HW_QUEUE_ALLOC', 'success', () => hwQueue(viommu, queueIova))
record('IOMMU_HW_QUEUE_ALLOC', 'bad id', () => hwQueue(999, queueIova))
record('IOMMU_HW_QUEUE_ALLOC', 'memory not mapped', () =>
  fd.hwQueueAlloc(viommu, T.IOMMU_HW_QUEUE_TYPE_SELFTEST, 1, queueIova + (1n << 20n), PAGE),
)
raw(
  fd.fd,
  'IOMMU_HW_QUEUE_ALLOC',
  'unknown flag',
  U.IOMMU_HW_QUEUE_ALLOC,
  U.iommu_hw_queue_alloc.encode({
    flags: 1,
    viommu_id: viommu,
    type: T.IOMMU_HW_QUEUE_TYPE_SELFTEST,
    nesting_parent_iova: queueIova,
    length: PAGE,
  }),
)
sizes(fd.fd, 'IOMMU_HW_QUEUE_ALLOC', U.IOMMU_HW_QUEUE_ALLOC, U.iommu_hw_queue_alloc, 'length', {
  viommu_id: viommu,
  type: T.IOMMU_HW_QUEUE_TYPE_SELFTEST,
  nesting_parent_iova: queueIova,
  length: PAGE,
})

// IOMMU_IOAS_CHANGE_PROCESS: this iommufd has maps of process memory; a second one, with
// RLIMIT_MODE set before it holds anything, has only a memfd map.
record('IOMMU_IOAS_CHANGE_PROCESS', 'a map of process memory', () => fd.changeProcess())
const fd2 = Iommufd.open()
record('IOMMU_OPTION', 'success, set RLIMIT_MODE on an empty iommufd', () =>
  fd2.option(U.IOMMU_OPTION_RLIMIT_MODE, U.IOMMU_OPTION_OP_SET, 0, 1n),
)
record('IOMMU_OPTION', 'set RLIMIT_MODE once there are objects', () =>
  fd.option(U.IOMMU_OPTION_RLIMIT_MODE, U.IOMMU_OPTION_OP_SET, 0, 1n),
)
fd2.mapFile(fd2.ioasAlloc(), memfd, 0n, MiB2)
record('IOMMU_IOAS_CHANGE_PROCESS', 'success, only memfd maps', () => fd2.changeProcess())
raw(
  fd2.fd,
  'IOMMU_IOAS_CHANGE_PROCESS',
  'non-zero reserved',
  U.IOMMU_IOAS_CHANGE_PROCESS,
  U.iommu_ioas_change_process.encode({__reserved: 1}),
)
sizes(
  fd2.fd,
  'IOMMU_IOAS_CHANGE_PROCESS',
  U.IOMMU_IOAS_CHANGE_PROCESS,
  U.iommu_ioas_change_process,
  '__reserved',
  {},
)
fd2.close()

// VFIO cdev
record('VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'success, replace with the HWPT', () => dev.attach(hwpt))
record('VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'bad id', () => dev.attach(999))
record('VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'PASID on a device without PASID', () => dev.attach(hwpt, 1))
raw(
  dev.fd,
  'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
  'unknown flag',
  V.VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  V.vfio_device_attach_iommufd_pt.encode({flags: 1 << 30, pt_id: hwpt}),
)
raw(
  dev.fd,
  'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
  'argsz too small',
  V.VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  V.vfio_device_attach_iommufd_pt.encodeSized({pt_id: hwpt}, 4),
)
record('VFIO_DEVICE_GET_INFO', 'success', () => dev.info())
raw(
  dev.fd,
  'VFIO_DEVICE_GET_INFO',
  'argsz too small',
  V.VFIO_DEVICE_GET_INFO,
  V.vfio_device_info.encodeSized({}, 4),
)
record('VFIO_DEVICE_DETACH_IOMMUFD_PT', 'success', () => dev.detach())
record('VFIO_DEVICE_DETACH_IOMMUFD_PT', 'PASID never attached', () => dev.detach(1))
raw(
  dev.fd,
  'VFIO_DEVICE_DETACH_IOMMUFD_PT',
  'unknown flag',
  V.VFIO_DEVICE_DETACH_IOMMUFD_PT,
  V.vfio_device_detach_iommufd_pt.encode({flags: 1 << 30}),
)
record('VFIO_DEVICE_BIND_IOMMUFD', 'already bound', () => dev.bind(fd))
const second = VfioCdev.open(cdev)
raw(
  second.fd,
  'VFIO_DEVICE_BIND_IOMMUFD',
  'argsz too small',
  V.VFIO_DEVICE_BIND_IOMMUFD,
  V.vfio_device_bind_iommufd.encodeSized({iommufd: fd.fd}, 4),
)
raw(
  second.fd,
  'VFIO_DEVICE_BIND_IOMMUFD',
  'bad iommufd descriptor',
  V.VFIO_DEVICE_BIND_IOMMUFD,
  V.vfio_device_bind_iommufd.encode({iommufd: 9999}),
)
second.close()
dev.close()

// Legacy: container and group (type1v2), on another device
const container = VfioContainer.open()
const group = VfioGroup.open(`/dev/vfio/${legacyGroup}`)
record('VFIO_GET_API_VERSION', 'success', () => {
  if (container.apiVersion() !== V.VFIO_API_VERSION) throw new Error('unexpected API version')
})
record('VFIO_CHECK_EXTENSION', 'success, TYPE1v2 supported', () => {
  if (container.checkExtension(V.VFIO_TYPE1v2_IOMMU) !== 1) throw new Error('type1v2 not supported')
})
record('VFIO_CHECK_EXTENSION', 'unknown extension answers 0', () => {
  if (container.checkExtension(999) !== 0) throw new Error('unknown extension supported')
})
record('VFIO_SET_IOMMU', 'before a group is set', () => container.setIommu())
record('VFIO_GROUP_GET_STATUS', 'success, viable', () => {
  if (!group.status().viable) throw new Error('not viable')
})
raw(
  group.fd,
  'VFIO_GROUP_GET_STATUS',
  'argsz too small',
  V.VFIO_GROUP_GET_STATUS,
  V.vfio_group_status.encodeSized({}, 4),
)
record('VFIO_GROUP_GET_DEVICE_FD', 'before a container is set', () => group.deviceFd(legacyBdf!))
record('VFIO_GROUP_SET_CONTAINER', 'success', () => group.setContainer(container))
record('VFIO_SET_IOMMU', 'success', () => container.setIommu())
record('VFIO_IOMMU_GET_INFO', 'success, with IOVA ranges', () => {
  if (container.info().iovaRanges.length === 0) throw new Error('no IOVA range capability')
})
raw(
  container.fd,
  'VFIO_IOMMU_GET_INFO',
  'argsz too small',
  V.VFIO_IOMMU_GET_INFO,
  V.vfio_iommu_type1_info.encodeSized({}, 4),
)
record('VFIO_IOMMU_MAP_DMA', 'success', () => container.mapDma(buf.address, 0x100000n, MiB2))
record('VFIO_IOMMU_MAP_DMA', 'size not a page multiple', () => container.mapDma(buf.address, 0x400000n, 100n))
record('VFIO_IOMMU_MAP_DMA', 'overlapping IOVA', () => container.mapDma(buf.address, 0x100000n, MiB2))
record('VFIO_IOMMU_UNMAP_DMA', 'success', () => {
  if (container.unmapDma(0x100000n, MiB2) !== MiB2) throw new Error('unmapped a different size')
})
record('VFIO_IOMMU_UNMAP_DMA', 'size not a page multiple', () => container.unmapDma(0x100000n, 100n))
let devfd = -1
record('VFIO_GROUP_GET_DEVICE_FD', 'success', () => (devfd = group.deviceFd(legacyBdf!)))
record('VFIO_GROUP_GET_DEVICE_FD', 'no such device in the group', () => group.deviceFd('0000:ff:1f.7'))
raw(
  devfd,
  'VFIO_DEVICE_GET_INFO',
  'success through the group',
  V.VFIO_DEVICE_GET_INFO,
  V.vfio_device_info.encode({}),
)

group.close()
container.close()
fd.close()
buf.unmap()
console.log(JSON.stringify(results))
