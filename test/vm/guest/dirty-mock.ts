/**
 * Runs inside the test VM (any topology: the iommufd selftest's mock devices need no real
 * IOMMU): creates a mock device that supports dirty tracking and one with
 * MOCK_FLAGS_DEVICE_NO_DIRTY with IOMMU_TEST_CMD, then drives dirty tracking through the
 * project's own Iommufd (hwInfo, hwptAlloc, setDirtyTracking, map, dirtyBitmap) and Mapping, as
 * the kernel selftest's iommufd_dirty_tracking fixture does
 * (tools/testing/selftests/iommu/iommufd.c: enforce_dirty, set_dirty_tracking,
 * device_dirty_capability, get_dirty_bitmap). Pages are made dirty with IOMMU_TEST_OP_DIRTY, as
 * iommufd_utils.h's test_mock_dirty_bitmaps does. Records the kernel's answer to each step and
 * prints one JSON object; test/vm/dirty.test.ts holds the expectations.
 * Usage: node --import tsx test/vm/guest/dirty-mock.ts
 */
import {Iommufd} from '../../../src/iommufd/iommufd.js'
import {ioctlStruct} from '../../../src/native/ioctl.js'
import {Mapping} from '../../../src/native/mapping.js'
import {NativeMemory} from '../../../src/native/memory.js'
import * as T from '../../../src/native/uapi/iommufd-test.js'
import {CaseLog, mockDevice, testCmd} from './mock.js'
import * as U from '../../../src/native/uapi/iommufd.js'

/** As the fixture's domain_dirty320k variant: "two u64 index and trailing end bitmap". */
const BUFFER_SIZE = 320n * 1024n
const PAGE = BigInt(T.MOCK_PAGE_SIZE)
const NBITS = Number(BUFFER_SIZE / PAGE)
const IOVA = BigInt(T.MOCK_APERTURE_START)
/**
 * The pages this script marks dirty, in MOCK_PAGE_SIZE units from IOVA: the first and the last
 * IOMMU page, both sides of each u64 word boundary of the bitmap, a lone page and two
 * neighbours. All are even, as in test_mock_dirty_bitmaps (iommufd_utils.h:472-475): with huge
 * pages off each PAGE_SIZE (4 KiB) is mapped as one contiguous entry of two MOCK_PAGE_SIZE
 * slots, and 7.2's record_dirty (drivers/iommu/generic_pt/iommu_pt.h:248-256) reports a dirty
 * contiguous entry as its first MOCK_PAGE_SIZE only, so a mark on an odd page comes back as the
 * even bit below it.
 */
const MARKED = [0, 6, 8, 62, 64, 100, 126, 128, 158]

const fd = Iommufd.open()

const log = new CaseLog()
const record = log.record.bind(log)
const cases = log.cases

/**
 * IOMMU_TEST_OP_DIRTY as iommufd_utils.h _test_cmd_mock_domain_set_dirty: marks dirty, in the
 * mock domain's page table, each page whose bit is set. Returns out_nr_dirty.
 */
function markDirty(hwpt: number, pages: number[]): number {
  const bitmap = new NativeMemory(Math.ceil(NBITS / 64) * 8)
  try {
    for (const p of pages) bitmap.bytes.writeUInt8(bitmap.bytes.readUInt8(p >> 3) | (1 << (p & 7)), p >> 3)
    const out = testCmd(fd, T.IOMMU_TEST_OP_DIRTY, hwpt, {
      'dirty.iova': IOVA,
      'dirty.length': BUFFER_SIZE,
      'dirty.page_size': PAGE,
      'dirty.uptr': bitmap.address,
    })
    return Number(out['dirty.out_nr_dirty'])
  } finally {
    bitmap.free()
  }
}

/** A bitmap as Iommufd.dirtyBitmap returned it: its size and the indices of its set bits. */
function bits(buf: Buffer): {bytes: number; set: number[]} {
  const set: number[] = []
  for (let i = 0; i < buf.length * 8; i++) if (buf.readUInt8(i >> 3) & (1 << (i & 7))) set.push(i)
  return {bytes: buf.length, set}
}

const hasDirtyCap = (capabilities: bigint) => (capabilities & BigInt(U.IOMMU_HW_CAP_DIRTY_TRACKING)) !== 0n

// 1. FIXTURE_SETUP(iommufd_dirty_tracking): an IOAS with huge pages off, so that the IOMMU page
// table is filled one PAGE_SIZE at a time (batch_iommu_map_small, drivers/iommu/iommufd/pages.c),
// never with larger entries, and a mock device on it.
const ioas = fd.ioasAlloc()
record('IOMMU_OPTION_HUGE_PAGES set to 0 on the IOAS', () =>
  fd.option(U.IOMMU_OPTION_HUGE_PAGES, U.IOMMU_OPTION_OP_SET, ioas, 0n),
)
let dev = {stdev: 0, hwpt: 0, idev: 0}
record('create a mock device (dirty tracking capable)', () => {
  dev = mockDevice(fd, ioas, 0)
})
// enforce_dirty: the device without dirty tracking gets an IOAS of its own.
const noDirtyIoas = fd.ioasAlloc()
let noDirty = {stdev: 0, hwpt: 0, idev: 0}
record('create a mock device with MOCK_FLAGS_DEVICE_NO_DIRTY', () => {
  noDirty = mockDevice(fd, noDirtyIoas, T.MOCK_FLAGS_DEVICE_NO_DIRTY)
})

// 2. The capability, through Iommufd.hwInfo.
const capabilities: {dirty: boolean; noDirty: boolean} = {dirty: false, noDirty: true}
record('IOMMU_GET_HW_INFO on the mock device', () => {
  capabilities.dirty = hasDirtyCap(fd.hwInfo(dev.idev).capabilities)
})
record('IOMMU_GET_HW_INFO on the MOCK_FLAGS_DEVICE_NO_DIRTY mock device', () => {
  capabilities.noDirty = hasDirtyCap(fd.hwInfo(noDirty.idev).capabilities)
})

// 3. enforce_dirty and set_dirty_tracking, through Iommufd.hwptAlloc and setDirtyTracking.
let hwptE = 0
record('IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING', () => {
  hwptE = fd.hwptAlloc(dev.idev, ioas, U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
})
record('attach a new mock device to the dirty-tracking HWPT', () => mockDevice(fd, hwptE, 0))
record('attach a new MOCK_FLAGS_DEVICE_NO_DIRTY mock device to the dirty-tracking HWPT', () =>
  mockDevice(fd, hwptE, T.MOCK_FLAGS_DEVICE_NO_DIRTY),
)
record(
  'IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING for the MOCK_FLAGS_DEVICE_NO_DIRTY device',
  () => fd.hwptAlloc(noDirty.idev, noDirtyIoas, U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING),
)
record('setDirtyTracking(true) on the dirty-tracking HWPT', () => fd.setDirtyTracking(hwptE, true))
record('setDirtyTracking(false) on the dirty-tracking HWPT', () => fd.setDirtyTracking(hwptE, false))

// 4. get_dirty_bitmap: map a buffer at MOCK_APERTURE_START, allocate a dirty-tracking HWPT on
// the IOAS, enable tracking, mark pages, read them back through Iommufd.dirtyBitmap.
const buffer = Mapping.anonymous(BUFFER_SIZE)
let mappedIova = 0n
record('map the buffer at MOCK_APERTURE_START', () => {
  mappedIova = fd.map(ioas, {userVa: buffer.address, length: BUFFER_SIZE, iova: IOVA})
})
let hwptG = 0
record('IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, after the map', () => {
  hwptG = fd.hwptAlloc(dev.idev, ioas, U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING)
})
record('IOMMU_TEST_OP_DIRTY before tracking is enabled', () => markDirty(hwptG, MARKED))
record('setDirtyTracking(true) on the HWPT over the buffer', () => fd.setDirtyTracking(hwptG, true))
let nrDirty = -1
record('IOMMU_TEST_OP_DIRTY on the marked pages', () => {
  nrDirty = markDirty(hwptG, MARKED)
})
const reads: Record<string, {bytes: number; set: number[]} | null> = {first: null, second: null, coarse: null}
record('dirtyBitmap at MOCK_PAGE_SIZE', () => {
  reads.first = bits(fd.dirtyBitmap(hwptG, IOVA, BUFFER_SIZE, PAGE))
})
record('dirtyBitmap at MOCK_PAGE_SIZE again (the first read cleared)', () => {
  reads.second = bits(fd.dirtyBitmap(hwptG, IOVA, BUFFER_SIZE, PAGE))
})
record('IOMMU_TEST_OP_DIRTY on the marked pages again', () => markDirty(hwptG, MARKED))
record('dirtyBitmap at 2 * MOCK_PAGE_SIZE', () => {
  reads.coarse = bits(fd.dirtyBitmap(hwptG, IOVA, BUFFER_SIZE, 2n * PAGE))
})

// 5. The refusals.
let hwptPlain = 0
record('IOMMU_HWPT_ALLOC without IOMMU_HWPT_ALLOC_DIRTY_TRACKING', () => {
  hwptPlain = fd.hwptAlloc(dev.idev, ioas, 0)
})
record('dirtyBitmap with a page size (1 MiB) the range is not a multiple of', () =>
  fd.dirtyBitmap(hwptG, IOVA, BUFFER_SIZE, 1n << 20n),
)
// dirtyBitmap divides by the page size before the ioctl, so page size 0 goes in by hand.
record('IOMMU_HWPT_GET_DIRTY_BITMAP with page size 0', () =>
  ioctlStruct(
    fd.fd,
    'IOMMU_HWPT_GET_DIRTY_BITMAP',
    U.IOMMU_HWPT_GET_DIRTY_BITMAP,
    U.iommu_hwpt_get_dirty_bitmap,
    {
      hwpt_id: hwptG,
      iova: IOVA,
      length: BUFFER_SIZE,
      page_size: 0n,
      data: 0n,
    },
  ),
)
record('dirtyBitmap at an IOVA half a mock page past MOCK_APERTURE_START', () =>
  fd.dirtyBitmap(hwptG, IOVA + PAGE / 2n, BUFFER_SIZE - PAGE, PAGE),
)
record('dirtyBitmap on an HWPT allocated without dirty tracking', () =>
  fd.dirtyBitmap(hwptPlain, IOVA, BUFFER_SIZE, PAGE),
)
record('setDirtyTracking(true) on an HWPT allocated without dirty tracking', () =>
  fd.setDirtyTracking(hwptPlain, true),
)
record('dirtyBitmap on the IOAS id', () => fd.dirtyBitmap(ioas, IOVA, BUFFER_SIZE, PAGE))

fd.close()
buffer.unmap()
console.log(
  JSON.stringify({
    ids: {ioas, noDirtyIoas, ...dev, noDirtyIdev: noDirty.idev, hwptE, hwptG, hwptPlain},
    mappedIova: mappedIova.toString(),
    capabilities,
    nrDirty,
    reads,
    cases,
  }),
)
