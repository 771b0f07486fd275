import assert from 'node:assert/strict'
import {describe} from 'node:test'

import {MOCK_APERTURE_START} from '../../src/native/uapi/iommufd-test.js'
import {vmIt} from './guest.js'
import {explain, runInGuest} from './harness.js'

/**
 * What the 7.2 kernel answers, in order, to each step of test/vm/guest/dirty-mock.ts. Each
 * expectation is taken from tools/testing/selftests/iommu/iommufd.c (cited as iommufd.c:LINE,
 * the iommufd_dirty_tracking fixture and its TEST_F cases) or iommufd_utils.h, or, where the
 * selftest has no such case, from the kernel source that decides it (drivers/iommu/iommufd/).
 * The guest's "dirty-tracking HWPT" plays enforce_dirty's and set_dirty_tracking's hwpt_id; the
 * "HWPT over the buffer" plays get_dirty_bitmap's.
 */
const EXPECTED: [step: string, errno: string][] = [
  // FIXTURE_SETUP(iommufd_dirty_tracking), iommufd.c:2182-2184: huge pages off on the IOAS.
  ['IOMMU_OPTION_HUGE_PAGES set to 0 on the IOAS', 'ok'],
  // iommufd.c:2186-2187: the fixture's mock device on that IOAS.
  ['create a mock device (dirty tracking capable)', 'ok'],
  // iommufd.c:2270-2272 (enforce_dirty): a MOCK_FLAGS_DEVICE_NO_DIRTY device on an IOAS of its own.
  ['create a mock device with MOCK_FLAGS_DEVICE_NO_DIRTY', 'ok'],
  // iommufd.c:2328 (device_dirty_capability) and iommufd_utils.h:894-897: IOMMU_GET_HW_INFO
  // succeeds; the capability bits are asserted below.
  ['IOMMU_GET_HW_INFO on the mock device', 'ok'],
  ['IOMMU_GET_HW_INFO on the MOCK_FLAGS_DEVICE_NO_DIRTY mock device', 'ok'],
  // iommufd.c:2261-2262 (enforce_dirty, "Regular case").
  ['IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING', 'ok'],
  // iommufd.c:2263: a mock device that supports dirty tracking attaches to it.
  ['attach a new mock device to the dirty-tracking HWPT', 'ok'],
  // iommufd.c:2264-2265: one with MOCK_FLAGS_DEVICE_NO_DIRTY is EINVAL (mock_domain_nop_attach,
  // drivers/iommu/iommufd/selftest.c:222-223: a domain with dirty_ops and a NO_DIRTY device).
  ['attach a new MOCK_FLAGS_DEVICE_NO_DIRTY mock device to the dirty-tracking HWPT', 'EINVAL'],
  // iommufd.c:2273-2274: "IOMMU device does not support dirty tracking": EOPNOTSUPP
  // (iommufd_hwpt_paging_alloc, hw_pagetable.c:128-130).
  [
    'IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING for the MOCK_FLAGS_DEVICE_NO_DIRTY device',
    'EOPNOTSUPP',
  ],
  // iommufd.c:2283-2287 (set_dirty_tracking): with a mock device attached, enable then disable.
  ['setDirtyTracking(true) on the dirty-tracking HWPT', 'ok'],
  ['setDirtyTracking(false) on the dirty-tracking HWPT', 'ok'],
  // iommufd.c:2345-2346 (get_dirty_bitmap): the buffer at MOCK_APERTURE_START.
  ['map the buffer at MOCK_APERTURE_START', 'ok'],
  // iommufd.c:2353-2355: a dirty-tracking HWPT on the IOAS after the map, MOCK_IOMMUPT_DEFAULT
  // (the page table type of an IOMMU_HWPT_ALLOC without data: iommufd_test.h MOCK_IOMMUPT_DEFAULT = 0).
  ['IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, after the map', 'ok'],
  // No selftest case: iommufd_test_dirty (selftest.c:1717-1719) refuses to mark pages of a
  // domain whose tracking is off with EINVAL, so the marks below depend on the enable.
  ['IOMMU_TEST_OP_DIRTY before tracking is enabled', 'EINVAL'],
  // iommufd.c:2357.
  ['setDirtyTracking(true) on the HWPT over the buffer', 'ok'],
  // iommufd_utils.h:477-479 (test_mock_dirty_bitmaps); out_nr_dirty is asserted below.
  ['IOMMU_TEST_OP_DIRTY on the marked pages', 'ok'],
  // iommufd_utils.h:482-484; the bits are asserted below.
  ['dirtyBitmap at MOCK_PAGE_SIZE', 'ok'],
  // iommufd_utils.h:494-496: the second read, which the first (without NO_CLEAR) cleared.
  ['dirtyBitmap at MOCK_PAGE_SIZE again (the first read cleared)', 'ok'],
  ['IOMMU_TEST_OP_DIRTY on the marked pages again', 'ok'],
  // No selftest case at a page size above the PTE size (the huge variants, iommufd.c:2342-2343,
  // do the reverse): iommufd_check_iova_range (io_pagetable.c:602-625) lets any power of two
  // dividing the range through, and iova_bitmap_set (iova_bitmap.c:401) records each dirty
  // MOCK_PAGE_SIZE PTE in the bit of the 2 * MOCK_PAGE_SIZE page that holds it.
  ['dirtyBitmap at 2 * MOCK_PAGE_SIZE', 'ok'],
  // iommufd.c:2326 (device_dirty_capability): an HWPT without the flag is allocated.
  ['IOMMU_HWPT_ALLOC without IOMMU_HWPT_ALLOC_DIRTY_TRACKING', 'ok'],
  // No selftest case for the refusals below; each is the check in the kernel that decides it.
  // iommufd_check_iova_range, io_pagetable.c:621-623: the end of the range (MOCK_APERTURE_START
  // + 320 KiB) is not a multiple of 1 MiB: EINVAL.
  ['dirtyBitmap with a page size (1 MiB) the range is not a multiple of', 'EINVAL'],
  // io_pagetable.c:618-619: page size 0 is EINVAL.
  ['IOMMU_HWPT_GET_DIRTY_BITMAP with page size 0', 'EINVAL'],
  // io_pagetable.c:614-616: an IOVA not aligned to the IOAS's IOVA alignment (PAGE_SIZE with
  // huge pages off, iopt_calculate_iova_alignment) is EINVAL before the page size is looked at.
  ['dirtyBitmap at an IOVA half a mock page past MOCK_APERTURE_START', 'EINVAL'],
  // iommu_read_and_clear_dirty, io_pagetable.c:577-578: a domain without dirty_ops (the mock
  // sets them only for IOMMU_HWPT_ALLOC_DIRTY_TRACKING, selftest.c:465-466) is EOPNOTSUPP.
  ['dirtyBitmap on an HWPT allocated without dirty tracking', 'EOPNOTSUPP'],
  // iopt_set_dirty_tracking, io_pagetable.c:681-682: the same, for enabling tracking.
  ['setDirtyTracking(true) on an HWPT allocated without dirty tracking', 'EOPNOTSUPP'],
  // iommufd_hwpt_get_dirty_bitmap (hw_pagetable.c:480) looks the id up as
  // IOMMUFD_OBJ_HWPT_PAGING; an object of another type is ENOENT (iommufd_get_object, main.c:176-178).
  ['dirtyBitmap on the IOAS id', 'ENOENT'],
]

/** The pages the guest marks, as MARKED in test/vm/guest/dirty-mock.ts (MOCK_PAGE_SIZE units, even). */
const MARKED = [0, 6, 8, 62, 64, 100, 126, 128, 158]

interface Bitmap {
  bytes: number
  set: number[]
}

interface GuestOutput {
  ids: Record<string, number>
  mappedIova: string
  capabilities: {dirty: boolean; noDirty: boolean}
  nrDirty: number
  reads: {first: Bitmap | null; second: Bitmap | null; coarse: Bitmap | null}
  cases: {case: string; errno: string}[]
}

describe('VM: dirty tracking on the iommufd selftest mock device', () => {
  vmIt('capability, HWPT allocation, enable/disable, the dirty bitmap and its refusals', async () => {
    const r = await runInGuest('none', {command: 'node --import tsx test/vm/guest/dirty-mock.ts'})
    assert.equal(r.status, 0, explain(r))
    const out: GuestOutput = JSON.parse(r.stdout)

    assert.deepEqual(
      out.cases.map((c) => [c.case, c.errno]),
      EXPECTED,
    )

    // Every object the kernel handed out has an id; the three HWPTs are distinct objects.
    for (const [name, id] of Object.entries(out.ids)) assert.ok(id > 0, `${name} = ${id}`)
    assert.equal(new Set([out.ids.hwpt, out.ids.hwptE, out.ids.hwptG, out.ids.hwptPlain]).size, 4)
    // The fixed IOVA is where the kernel put the buffer.
    assert.equal(out.mappedIova, String(MOCK_APERTURE_START))

    // iommufd.c:2328-2330 (device_dirty_capability): the mock device reports
    // IOMMU_HW_CAP_DIRTY_TRACKING. The MOCK_FLAGS_DEVICE_NO_DIRTY one does not: no selftest
    // asserts it, but IOMMU_GET_HW_INFO sets the bit from IOMMU_CAP_DIRTY_TRACKING
    // (device.c:1617-1618), which mock_domain_capable (selftest.c:532-533) denies to it.
    assert.deepEqual(out.capabilities, {dirty: true, noDirty: false})

    // iommufd_utils.h:477-479: out_nr_dirty counts the pages marked.
    assert.equal(out.nrDirty, MARKED.length)
    // iommufd_utils.h:486-492: exactly the marked (even) bits are set, their odd neighbours
    // clear. 320 KiB / MOCK_PAGE_SIZE = 160 bits; dirtyBitmap hands back the bitmap in whole u64
    // words, 3 of them, the last 32 bits past the range left clear.
    assert.deepEqual(out.reads.first, {bytes: 24, set: MARKED})
    // iommufd_utils.h:498-507: without IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR the read cleared them.
    assert.deepEqual(out.reads.second, {bytes: 24, set: []})
    // At 2 * MOCK_PAGE_SIZE, 80 bits in 2 u64 words; page p is reported as bit p >> 1.
    assert.deepEqual(out.reads.coarse, {bytes: 16, set: [...new Set(MARKED.map((p) => p >> 1))]})
  })
})
