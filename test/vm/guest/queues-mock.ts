/**
 * Runs inside the test VM (any topology: the iommufd selftest's mock devices need no real
 * IOMMU): drives iommufd's queues through Iommufd's own methods as the kernel selftest does
 * (tools/testing/selftests/iommu/iommufd.c: TEST_F(iommufd_ioas, alloc_hwpt_nested)'s IOPF
 * part, TEST_F(iommufd_viommu, viommu_alloc_nested_iopf), vdevice_alloc's vEVENTQ part,
 * hw_queue, and TEST_F(change_process, basic)): a page fault raised with
 * IOMMU_TEST_OP_TRIGGER_IOPF, read and answered; vEVENTs raised with
 * IOMMU_TEST_OP_TRIGGER_VEVENT, read with their sequence, lost events and gaps; HW queues up
 * to the mock's limit; IOMMU_IOAS_CHANGE_PROCESS refused, then accepted. Records the
 * kernel's answer to each step and what was read. Prints one JSON object;
 * test/vm/queues.test.ts holds the expectations.
 * Usage: node --import tsx test/vm/guest/queues-mock.ts
 */
import {Iommufd, UserData} from '../../../src/iommufd/iommufd.js'
import {PageFault, VEvent} from '../../../src/iommufd/events.js'
import {FaultQueue, VEventQueue} from '../../../src/iommufd/queues.js'
import {SyscallError} from '../../../src/native/errors.js'
import {ioctlBytes, readDescriptor, writeDescriptor} from '../../../src/native/ioctl.js'
import {ftruncate, MFD_CLOEXEC, memfdCreate} from '../../../src/native/libc.js'
import {Mapping} from '../../../src/native/mapping.js'
import * as T from '../../../src/native/uapi/iommufd-test.js'
import * as U from '../../../src/native/uapi/iommufd.js'
import {CaseLog, mockDevice, testCmd} from './mock.js'

const PAGE = 4096n
const fd = Iommufd.open()
const log = new CaseLog()
const record = log.record.bind(log)
/** What each reading step read: case → records. */
const reads: Record<string, unknown[]> = {}
/** Raw ioctls for what Iommufd's methods never send (flags, reserved bits). */
const raw = (name: string, iommufd: Iommufd, request: number, bytes: Buffer) =>
  record(name, () => {
    const {errno} = ioctlBytes(iommufd.fd, request, bytes)
    if (errno) throw new SyscallError(name, errno)
  })

const faultView = (f: PageFault) => ({...f, addr: `0x${f.addr.toString(16)}`, cookie: undefined})
const eventView = (e: VEvent) => ({
  sequence: e.sequence,
  lostEvents: e.lostEvents,
  lost: e.lost,
  virtId: e.lostEvents ? null : T.iommu_viommu_event_selftest.decode(e.data).virt_id,
})

const data: UserData = {
  type: T.IOMMU_HWPT_DATA_SELFTEST,
  bytes: T.iommu_hwpt_selftest.encode({iotlb: T.IOMMU_TEST_IOTLB_DEFAULT}),
}
const ioas = fd.ioasAlloc()
const dev = mockDevice(fd, ioas, 0)
const parent = fd.hwptAlloc(dev.idev, ioas, U.IOMMU_HWPT_ALLOC_NEST_PARENT)
const replace = (pt: number) =>
  testCmd(fd, T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, dev.stdev, {'mock_domain_replace.pt_id': pt})
/** _test_cmd_trigger_iopf's request: PASID 1, group 2, read and write, at 0xdeadbeaf. */
const triggerIopf = () =>
  testCmd(fd, T.IOMMU_TEST_OP_TRIGGER_IOPF, 0, {
    'trigger_iopf.dev_id': dev.idev,
    'trigger_iopf.pasid': 1,
    'trigger_iopf.grpid': 2,
    'trigger_iopf.perm': U.IOMMU_PGFAULT_PERM_READ | U.IOMMU_PGFAULT_PERM_WRITE,
    'trigger_iopf.addr': 0xdeadbeafn,
  })

// 1. Fault queue, an HWPT that reports to it, a page request read and answered.
let fq: FaultQueue | undefined
record('IOMMU_FAULT_QUEUE_ALLOC', () => {
  fq = fd.faultQueueAlloc()
})
raw(
  'IOMMU_FAULT_QUEUE_ALLOC with flags',
  fd,
  U.IOMMU_FAULT_QUEUE_ALLOC,
  U.iommu_fault_alloc.encode({flags: 1}),
)
record('nested HWPT with FAULT_ID_VALID and a fault id that names nothing', () =>
  fd.hwptAlloc(dev.idev, parent, U.IOMMU_HWPT_FAULT_ID_VALID, data, 0xffffffff),
)
record('paging HWPT with FAULT_ID_VALID and NEST_PARENT', () =>
  fd.hwptAlloc(
    dev.idev,
    ioas,
    U.IOMMU_HWPT_FAULT_ID_VALID | U.IOMMU_HWPT_ALLOC_NEST_PARENT,
    undefined,
    fq!.id,
  ),
)
let iopfHwpt = 0
record('nested HWPT with FAULT_ID_VALID', () => {
  iopfHwpt = fd.hwptAlloc(dev.idev, parent, U.IOMMU_HWPT_FAULT_ID_VALID, data, fq!.id)
})
record('attach the device to it', () => replace(iopfHwpt))
record('destroy it while the device is attached', () => fd.destroy(iopfHwpt))
record('read the fault queue before any fault', () => {
  reads['read the fault queue before any fault'] = fq!.read().map(faultView)
})
record('read a count that is not a whole number of records', () =>
  readDescriptor(fq!.fd, 'read of the fault queue', U.iommu_hwpt_pgfault.size - 1),
)
record('IOMMU_TEST_OP_TRIGGER_IOPF', triggerIopf)
let cookie = 0
record('read the page request', () => {
  const faults = fq!.read()
  cookie = faults[0]?.cookie ?? 0
  reads['read the page request'] = faults.map(faultView)
})
record('answer with a code that is neither success nor invalid', () =>
  writeDescriptor(fq!.fd, 'page response', U.iommu_hwpt_page_response.encode({cookie, code: 2})),
)
record('answer a cookie no fault group has', () => fq!.respond(cookie + 1000, 'success'))
record('write part of a response', () =>
  writeDescriptor(fq!.fd, 'page response', Buffer.alloc(U.iommu_hwpt_page_response.size - 1)),
)
record('answer success', () => fq!.respond(cookie, 'success'))
record('answer the same cookie again', () => fq!.respond(cookie, 'success'))
record('a second page request, answered invalid', () => {
  triggerIopf()
  const faults = fq!.read()
  reads['a second page request, answered invalid'] = faults.map(faultView)
  fq!.respond(faults[0]!.cookie, 'invalid')
})
record('back to the IOAS, then destroy the HWPT', () => {
  replace(ioas)
  fd.destroy(iopfHwpt)
})
record('destroy the fault queue while its descriptor is open', () => fd.destroy(fq!.id))
record('close the descriptor, then destroy the fault queue', () => {
  fq!.close()
  fd.destroy(fq!.id)
})

// 2. vEVENTQ on a vIOMMU: depth limits, one per type, reads with sequence and lost events.
const viommu = fd.viommuAlloc(dev.idev, parent, T.IOMMU_VIOMMU_TYPE_SELFTEST).id
const onViommu = fd.hwptAlloc(dev.idev, viommu, 0, data)
const eventLen = T.iommu_viommu_event_selftest.size
const VEVENTQ_MAX_DEPTH = 1 << 19
const veventq = (depth: number, type = T.IOMMU_VEVENTQ_TYPE_SELFTEST, on = viommu) =>
  fd.veventqAlloc(on, type, depth, eventLen)
const dispose = (q: VEventQueue) => {
  q.close()
  fd.destroy(q.id)
}
record('vEVENTQ: depth 0', () => veventq(0))
record('vEVENTQ: depth 2^19 + 1', () => veventq(VEVENTQ_MAX_DEPTH + 1))
record('vEVENTQ: depth 2^19', () => dispose(veventq(VEVENTQ_MAX_DEPTH)))
record('vEVENTQ: type IOMMU_VEVENTQ_TYPE_DEFAULT', () => veventq(2, U.IOMMU_VEVENTQ_TYPE_DEFAULT))
record('vEVENTQ: a vIOMMU id that names nothing', () => veventq(2, T.IOMMU_VEVENTQ_TYPE_SELFTEST, 0xfffff))
raw(
  'vEVENTQ: non-zero reserved',
  fd,
  U.IOMMU_VEVENTQ_ALLOC,
  U.iommu_veventq_alloc.encode({
    viommu_id: viommu,
    type: T.IOMMU_VEVENTQ_TYPE_SELFTEST,
    veventq_depth: 2,
    __reserved: 1,
  }),
)
let q: VEventQueue | undefined
record('vEVENTQ: depth 2', () => {
  q = veventq(2)
})
record('vEVENTQ: a second of the same type', () => veventq(2))
record('read 0 bytes', () => readDescriptor(q!.fd, 'read of the vEVENTQ', 0))
record('read less than a header', () =>
  readDescriptor(q!.fd, 'read of the vEVENTQ', U.iommufd_vevent_header.size - 1),
)
const readEvents = (name: string, max?: number) =>
  record(name, () => {
    reads[name] = q!.read(max).map(eventView)
  })
readEvents('read the empty vEVENTQ')
const triggerVevents = (n: number) => {
  for (let i = 0; i < n; i++)
    testCmd(fd, T.IOMMU_TEST_OP_TRIGGER_VEVENT, 0, {'trigger_vevent.dev_id': dev.idev})
}
record('IOMMU_TEST_OP_TRIGGER_VEVENT before the device has a vDEVICE', () => triggerVevents(1))
let vdev = 0
record('vDEVICE at virtual id 0x99, attach to the nested HWPT on the vIOMMU', () => {
  vdev = fd.vdeviceAlloc(viommu, dev.idev, 0x99n)
  replace(onViommu)
})
record('IOMMU_TEST_OP_TRIGGER_VEVENT', () => triggerVevents(1))
record('read a header but not the data after it', () =>
  readDescriptor(q!.fd, 'read of the vEVENTQ', U.iommufd_vevent_header.size),
)
readEvents('read the vEVENT')
record('three vEVENTs into a queue of depth 2', () => triggerVevents(3))
readEvents('read after the overflow')
record('one more vEVENT', () => triggerVevents(1))
readEvents('read after it')
// A gap rather than a lost-events header: with depth 1, two vEVENTs leave one and the header;
// reading room for one leaves the header, which the next vEVENT replaces, taking the next number.
record('a new vEVENTQ of depth 1, two vEVENTs', () => {
  dispose(q!)
  q = veventq(1)
  triggerVevents(2)
})
readEvents('read room for one vEVENT', 1)
record('one more vEVENT after it', () => triggerVevents(1))
readEvents('read across the gap')
record('back to the IOAS; destroy the vDEVICE and the vEVENTQ', () => {
  replace(ioas)
  fd.destroy(vdev)
  dispose(q!)
})

// 3. HW queues of the mock's vIOMMU: at most IOMMU_TEST_HW_QUEUE_MAX, from index 0 up.
const hwq = (index: number, iova: bigint, length: bigint, type = T.IOMMU_HW_QUEUE_TYPE_SELFTEST) =>
  fd.hwQueueAlloc(viommu, type, index, iova, length)
const start = BigInt(T.MOCK_APERTURE_START)
record('HW queue: type IOMMU_HW_QUEUE_TYPE_DEFAULT', () => hwq(0, start, PAGE, U.IOMMU_HW_QUEUE_TYPE_DEFAULT))
record('HW queue: length 0', () => hwq(0, start, 0n))
record('HW queue: iova + length past 2^64', () => hwq(0, (1n << 64n) - 1n, PAGE))
record('HW queue: memory not mapped', () => hwq(0, start, PAGE))
const buf = Mapping.anonymous(PAGE * 2n)
const iova = fd.map(ioas, {userVa: buf.address, length: PAGE})
const iova2 = fd.map(ioas, {userVa: buf.address + PAGE, length: PAGE})
record('HW queue: index 1 before index 0', () => hwq(1, iova, PAGE))
record('HW queue: index IOMMU_TEST_HW_QUEUE_MAX', () => hwq(T.IOMMU_TEST_HW_QUEUE_MAX, iova, PAGE))
let hw0 = 0
let hw1 = 0
record('HW queue: index 0', () => {
  hw0 = hwq(0, iova, PAGE)
})
record('HW queue: index 0 again', () => hwq(0, iova, PAGE))
record('unmap the memory of queue 0', () => fd.unmap(ioas, iova, PAGE))
record('unmap the page no queue uses', () => fd.unmap(ioas, iova2, PAGE))
record('HW queue: index 1, half a page at an unaligned IOVA', () => {
  hw1 = hwq(1, iova + PAGE / 2n, PAGE / 2n)
})
record('HW queue: a third, past the limit', () => hwq(2, iova, PAGE))
record('destroy queue 0 while queue 1 depends on it', () => fd.destroy(hw0))
record('destroy queue 1, then 0, then unmap', () => {
  fd.destroy(hw1)
  fd.destroy(hw0)
  fd.unmap(ioas, iova, PAGE)
})
buf.unmap()

// 4. IOMMU_OPTION_RLIMIT_MODE and IOMMU_IOAS_CHANGE_PROCESS, on an iommufd of their own.
const fd2 = Iommufd.open()
const rlimitMode = (value: bigint) => fd2.option(U.IOMMU_OPTION_RLIMIT_MODE, U.IOMMU_OPTION_OP_SET, 0, value)
record('RLIMIT_MODE: set 2', () => rlimitMode(2n))
let mode = -1n
record('RLIMIT_MODE: set 1 on an iommufd with no object, and read back', () => {
  rlimitMode(1n)
  mode = fd2.option(U.IOMMU_OPTION_RLIMIT_MODE, U.IOMMU_OPTION_OP_GET)
})
const ioas2 = fd2.ioasAlloc()
record('RLIMIT_MODE: set once the iommufd holds an object', () => rlimitMode(0n))
mockDevice(fd2, ioas2, 0)
const anon = Mapping.anonymous(PAGE)
const anonIova = fd2.map(ioas2, {userVa: anon.address, length: PAGE})
record('IOMMU_IOAS_CHANGE_PROCESS with a map of process memory', () => fd2.changeProcess())
fd2.unmap(ioas2, anonIova, PAGE)
anon.unmap()
const FILE_MAP = 16n * PAGE
const memfd = memfdCreate('iommuctl-queues', MFD_CLOEXEC).value
ftruncate(memfd, Number(FILE_MAP))
fd2.mapFile(ioas2, memfd, 0n, FILE_MAP)
record('IOMMU_IOAS_CHANGE_PROCESS with only a map of a memfd', () => fd2.changeProcess())
raw(
  'IOMMU_IOAS_CHANGE_PROCESS with non-zero reserved',
  fd2,
  U.IOMMU_IOAS_CHANGE_PROCESS,
  U.iommu_ioas_change_process.encode({__reserved: 1}),
)
fd2.close()
fd.close()
console.log(
  JSON.stringify({
    cases: log.cases,
    reads,
    ids: {ioas, idev: dev.idev, parent, viommu},
    rlimitMode: Number(mode),
  }),
)
