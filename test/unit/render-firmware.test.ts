// renderFirmware over a DMAR built from the VT-d specification's field layout (test/helpers/dmar.ts:
// the 48-byte DMAR header, a DRHD, an RMRR with one endpoint scope) plus a structure of a type
// the specification does not define, which must be shown, not dropped.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {decodeDmar} from '../../src/decode/dmar.js'
import {renderFirmware} from '../../src/render/firmware.js'
import {dmarTable, drhd, endpointScope, rmrr, unknownStructure} from '../helpers/dmar.js'
import {lineOf, plain} from '../helpers/roots.js'

const dmar = () =>
  dmarTable([
    drhd(0xfed90000n),
    rmrr(0x7c000000n, 0x7fffffffn, [endpointScope(0, [0x14, 0])]),
    unknownStructure(9),
  ])

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
