// AMD-Vi DTEs from devtbl (drivers/iommu/amd/debugfs.c), decoded by the bit positions of the AMD
// IOMMU specification (48882, "Device Table Entry"). The first line is what the test kernel
// printed under QEMU's amd-iommu for its e1000e in an identity group; the others are built here
// bit by bit.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {decodeDte, parseDevtbl} from '../../src/decode/amdvi-dte.js'

const HEADER = 'DeviceId             QWORD[3]         QWORD[2]         QWORD[1]         QWORD[0] iommu'
const E1000E = '0000:00:03.0 0000000000000000 2000000001aa4013 0000000000000001 6000000000000003 iommu0'

describe('AMD-Vi devtbl', () => {
  it("parses the kernel's header and line, qword 0 first", () => {
    const line = parseDevtbl(`${HEADER}\n${E1000E}\n`)
    assert.ok(!('note' in line))
    assert.equal(line.deviceId, '0000:00:03.0')
    assert.equal(line.iommu, 'iommu0')
    assert.deepEqual(line.qwords, [0x6000000000000003n, 1n, 0x2000000001aa4013n, 0n])
  })

  it('says why there is no entry: none chosen, nothing printed, a format it does not know', () => {
    assert.match(
      (parseDevtbl("Enter a valid device ID to 'devid' file\n") as {note: string}).note,
      /no device was chosen/,
    )
    assert.match((parseDevtbl('') as {note: string}).note, /no IOMMU unit translates/)
    assert.match((parseDevtbl(`${HEADER}\n${E1000E} extra\n`) as {note: string}).note, /not in the format/)
    assert.match((parseDevtbl(`${E1000E}\n`) as {note: string}).note, /not in the format/)
  })
})

describe('AMD-Vi DTE', () => {
  it('an identity domain: V and TV, mode 0, IR and IW: pass-through; interrupts remapped', () => {
    const d = decodeDte([0x6000000000000003n, 1n, 0x2000000001aa4013n, 0n])
    assert.equal(d.translation, 'pass-through')
    assert.deepEqual([d.valid, d.translationValid, d.read, d.write], [true, true, true, true])
    assert.deepEqual([d.levels, d.addressWidth, d.pageTableRoot], [0, null, null])
    assert.equal(d.domainId, 1)
    // IV (bit 128), IntTabLen 9 (bits 132:129: 2^9 entries), the table at bits 179:134.
    assert.deepEqual(d.interruptRemap, {valid: true, entries: 512, tableRoot: '0x1aa4000'})
    assert.equal(d.guestTranslation, false)
  })

  it('a paging domain: mode 3 is a three-level v1 table of 39 bits at bits 51:12, DomainID bits 79:64', () => {
    const q0 = (1n << 62n) | (1n << 61n) | 0x1234_5000n | (3n << 9n) | 3n
    const d = decodeDte([q0, 0x2an | (1n << 32n), 0n, 0n])
    assert.equal(d.translation, 'v1-page-table')
    assert.deepEqual([d.levels, d.addressWidth, d.pageTableRoot, d.domainId], [3, 39, '0x12345000', 42])
    assert.equal(d.iotlb, true, 'I (bit 96)')
    assert.equal(
      decodeDte([(q0 & ~(7n << 9n)) | (6n << 9n), 0n, 0n, 0n]).addressWidth,
      64,
      'six levels: 64 bits',
    )
  })

  it('IR and IW clear: blocked; V clear: untranslated; mode 7: not known', () => {
    assert.equal(decodeDte([3n, 0n, 0n, 0n]).translation, 'blocked')
    assert.equal(decodeDte([0n, 0n, 0n, 0n]).translation, 'pass-through')
    assert.equal(decodeDte([(3n << 61n) | (7n << 9n) | 3n, 0n, 0n, 0n]).translation, 'unknown')
  })

  it('GV: the GCR3 root from its three pieces; with a host table too, nested', () => {
    const gcr3 = 0x76_5432_1000n
    const q0 = (3n << 61n) | (1n << 55n) | (((gcr3 >> 12n) & 7n) << 58n) | 3n
    const q1 = (((gcr3 >> 15n) & 0xffffn) << 16n) | ((gcr3 >> 31n) << 43n) | 7n
    const d = decodeDte([q0, q1, 0n, 0n])
    assert.equal(d.translation, 'v2-page-table')
    assert.equal(d.gcr3Root, '0x7654321000')
    assert.equal(d.domainId, 7)
    assert.equal(decodeDte([q0 | (4n << 9n), q1, 0n, 0n]).translation, 'nested')
  })
})
