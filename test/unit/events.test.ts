// The decoders of what iommufd's event queues hand out (src/iommufd/events.ts), on bytes laid
// out here by hand from include/uapi/linux/iommufd.h (struct iommu_hwpt_pgfault: six __u32,
// __aligned_u64 addr at 24, length at 32, cookie at 36, 40 bytes; struct iommufd_vevent_header:
// flags, sequence), not by the struct encoder the decoders use.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {decodePageFaults, encodePageResponse, VEventDecoder} from '../../src/iommufd/events.js'

function pgfault(f: {
  flags: number
  devId: number
  pasid: number
  grpid: number
  perm: number
  addr: bigint
  length: number
  cookie: number
}): Buffer {
  const b = Buffer.alloc(40)
  b.writeUInt32LE(f.flags, 0)
  b.writeUInt32LE(f.devId, 4)
  b.writeUInt32LE(f.pasid, 8)
  b.writeUInt32LE(f.grpid, 12)
  b.writeUInt32LE(f.perm, 16)
  b.writeBigUInt64LE(f.addr, 24)
  b.writeUInt32LE(f.length, 32)
  b.writeUInt32LE(f.cookie, 36)
  return b
}

/** A vEVENT: the 8-byte header, then the data (none for a lost-events header). */
function vevent(flags: number, sequence: number, data = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(8)
  h.writeUInt32LE(flags, 0)
  h.writeUInt32LE(sequence, 4)
  return Buffer.concat([h, data])
}
const LOST = 1 // IOMMU_VEVENTQ_FLAG_LOST_EVENTS
const virtId = (id: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(id, 0)
  return b
}

describe('page requests read from a fault queue', () => {
  it('decodes each record: PASID only when PASID_VALID, permissions by name, the last of a group', () => {
    const bytes = Buffer.concat([
      // PASID_VALID (1 << 0), not the last page; read | exec
      pgfault({flags: 1, devId: 7, pasid: 5, grpid: 2, perm: 1 | 4, addr: 0x1000n, length: 8192, cookie: 0}),
      // LAST_PAGE (1 << 1) without a PASID: the pasid field is not meaningful
      pgfault({
        flags: 2,
        devId: 7,
        pasid: 99,
        grpid: 2,
        perm: 2 | 8,
        addr: 0xdeadb000n,
        length: 0,
        cookie: 3,
      }),
    ])
    assert.deepEqual(decodePageFaults(bytes), [
      {
        devId: 7,
        pasid: 5,
        grpid: 2,
        perm: ['read', 'exec'],
        addr: 0x1000n,
        length: 8192,
        cookie: 0,
        lastPage: false,
        flags: 1,
      },
      {
        devId: 7,
        pasid: null,
        grpid: 2,
        perm: ['write', 'priv'],
        addr: 0xdeadb000n,
        length: 0,
        cookie: 3,
        lastPage: true,
        flags: 2,
      },
    ])
  })

  it('reads nothing from an empty read, and refuses a length that is not whole records', () => {
    assert.deepEqual(decodePageFaults(Buffer.alloc(0)), [])
    assert.throws(() => decodePageFaults(Buffer.alloc(41)), /41 bytes is not a whole number of 40-byte/)
  })

  it('answers a group with its cookie and the PCIe code: success 0, invalid 1', () => {
    const expect = (cookie: number, code: number) => {
      const b = Buffer.alloc(8)
      b.writeUInt32LE(cookie, 0)
      b.writeUInt32LE(code, 4)
      return b
    }
    assert.deepEqual(encodePageResponse(9, 'success'), expect(9, 0))
    assert.deepEqual(encodePageResponse(0xffffffff, 'invalid'), expect(0xffffffff, 1))
  })
})

describe('vEVENTs read from a vEVENTQ', () => {
  it('splits headers and data, and reports nothing lost in an unbroken sequence', () => {
    const d = new VEventDecoder(4)
    const events = d.decode(Buffer.concat([vevent(0, 0, virtId(0x99)), vevent(0, 1, virtId(0x88))]))
    assert.deepEqual(
      events.map((e) => [e.sequence, e.lostEvents, e.lost, e.data.readUInt32LE(0)]),
      [
        [0, false, 0, 0x99],
        [1, false, 0, 0x88],
      ],
    )
  })

  it('reads a lost-events header with no data after it, standing for the events it numbers', () => {
    const d = new VEventDecoder(4)
    // As the kernel header's own picture: header3, data3, then header4 {LOST_EVENTS}.
    const events = d.decode(Buffer.concat([vevent(0, 3, virtId(1)), vevent(LOST, 4)]))
    assert.deepEqual(
      events.map((e) => [e.sequence, e.lostEvents, e.lost, e.data.length]),
      [
        [3, false, 0, 4],
        [4, true, 1, 0],
      ],
    )
    // Events 5 and 6 were also dropped before the header was read: it then says 7, three lost.
    const d2 = new VEventDecoder(4)
    d2.decode(vevent(0, 4, virtId(1)))
    assert.deepEqual(
      d2.decode(vevent(LOST, 7)).map((e) => e.lost),
      [3],
    )
  })

  it('counts a gap in the sequence as lost events, across reads', () => {
    // The kernel header's example: header3 then header6, two lost.
    const d = new VEventDecoder(4)
    assert.deepEqual(
      d.decode(vevent(0, 3, virtId(1))).map((e) => e.lost),
      [0],
    )
    assert.deepEqual(
      d.decode(vevent(0, 6, virtId(1))).map((e) => [e.sequence, e.lost]),
      [[6, 2]],
    )
  })

  it('follows the sequence from INT_MAX to 0 without a gap, and counts one across the wrap', () => {
    const d = new VEventDecoder(4)
    const events = d.decode(
      Buffer.concat([vevent(0, 0x7fffffff, virtId(1)), vevent(0, 0, virtId(1)), vevent(0, 2, virtId(1))]),
    )
    assert.deepEqual(
      events.map((e) => e.lost),
      [0, 0, 1],
    )
    const d2 = new VEventDecoder(4)
    d2.decode(vevent(0, 0x7ffffffe, virtId(1)))
    assert.deepEqual(
      d2.decode(vevent(0, 0, virtId(1))).map((e) => e.lost),
      [1],
    )
  })

  it('refuses a read that ends inside a header or inside the data, and a sequence past INT_MAX', () => {
    assert.throws(() => new VEventDecoder(4).decode(Buffer.alloc(5)), /ends inside a header, at byte 0 of 5/)
    assert.throws(
      () => new VEventDecoder(32).decode(vevent(0, 0, Buffer.alloc(16))),
      /ends inside the data of event 0: 16 of 32 bytes/,
    )
    assert.throws(() => new VEventDecoder(4).decode(vevent(0, 0x80000000, virtId(1))), /past INT_MAX/)
    assert.throws(() => new VEventDecoder(0), /not a positive integer/)
  })
})
