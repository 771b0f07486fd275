// renderFirmware over a DMAR built here from the VT-d specification's field layout (chapter 8:
// the 48-byte DMAR header, a DRHD, an RMRR with one endpoint scope) plus a structure of a type
// the specification does not define, which must be shown, not dropped.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {decodeDmar} from '../../src/decode/dmar.js'
import {renderFirmware} from '../../src/render/firmware.js'
import {lineOf, plain} from '../helpers/roots.js'

function dmar(): Buffer {
  const drhd = Buffer.alloc(16)
  drhd.writeUInt16LE(0, 0) // type DRHD
  drhd.writeUInt16LE(16, 2)
  drhd[4] = 1 // INCLUDE_PCI_ALL
  drhd.writeBigUInt64LE(0xfed90000n, 8)
  const rmrr = Buffer.alloc(32)
  rmrr.writeUInt16LE(1, 0) // type RMRR
  rmrr.writeUInt16LE(32, 2)
  rmrr.writeBigUInt64LE(0x7c000000n, 8)
  rmrr.writeBigUInt64LE(0x7fffffffn, 16)
  Buffer.from([1, 8, 0, 0, 0, 0, 0x14, 0]).copy(rmrr, 24) // endpoint, bus 0, device 14h function 0
  const unknown = Buffer.alloc(8)
  unknown.writeUInt16LE(9, 0)
  unknown.writeUInt16LE(8, 2)
  const body = Buffer.concat([Buffer.alloc(48), drhd, rmrr, unknown])
  body.write('DMAR', 0, 'latin1')
  body.writeUInt32LE(body.length, 4)
  body[8] = 1
  body[36] = 38 // 39-bit addresses
  body[37] = 1 // INTR_REMAP
  let sum = 0
  for (const b of body) sum = (sum + b) & 0xff
  body[9] = (0x100 - sum) & 0xff
  return body
}

describe('renderFirmware', () => {
  const table = decodeDmar(dmar())
  const text = plain(
    renderFirmware({
      tables: [
        {
          name: 'DMAR',
          path: '/sys/firmware/acpi/tables/DMAR',
          signature: 'DMAR',
          dmar: table,
          ivrs: null,
          units: [],
          kernel: 'k',
        },
      ],
      notes: [],
    }),
  )

  it('shows the header, the width in bits and the flags by name', () => {
    assert.match(lineOf(text, 'header'), /revision 1, 104 bytes, .*checksum ok/)
    assert.match(lineOf(text, 'host address width'), /39 bits/)
    assert.match(lineOf(text, 'flags'), /INTR_REMAP$/)
  })

  it('shows every structure, the RMRR with its range and device, the unknown one with type and length', () => {
    assert.match(lineOf(text, '0x030'), /DRHD\s+segment 0, base 0xfed90000 \(4 KiB\), INCLUDE_PCI_ALL/)
    assert.match(lineOf(text, '0x040'), /RMRR\s+segment 0, 0x7c000000-0x7fffffff/)
    assert.match(lineOf(text, '0x058'), /scope\s+endpoint, bus 00 path 14\.0\s+0000:00:14\.0/)
    assert.match(lineOf(text, '0x060'), /unknown\s+type 9, 8 bytes/)
    assert.doesNotMatch(text, /problems/)
  })
})
