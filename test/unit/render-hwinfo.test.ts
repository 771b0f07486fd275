import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {decodeSmmuV3} from '../../src/decode/smmuv3.js'
import type {HwInfoRecord} from '../../src/model/hwinfo.js'
import {renderHwInfo} from '../../src/render/hwinfo.js'
import {lineOf, plain} from '../helpers/roots.js'

// By hand: hw-info needs a device on vfio-pci and /dev/iommu (the VM tier runs it for real).
const base: HwInfoRecord = {
  bdf: '0000:00:03.0',
  cdev: '/dev/vfio/devices/vfio0',
  type: 'arm-smmuv3',
  typeId: 2,
  capabilities: {
    raw: '0x1',
    dirtyTracking: true,
    pasidExecute: false,
    pasidPrivileged: false,
    atsNotSupported: true,
  },
  maxPasidLog2: 0,
  vtd: null,
  smmuv3: {
    flags: '0x0',
    idr: ['0x1', '0x2', '0x3', '0x4', '0x5', '0x6'],
    iidr: '0x43b',
    aidr: '0x2',
    ...decodeSmmuV3([1, 2, 3, 4, 5, 6], 0x43b, 2),
  },
  amd: null,
  iovaRanges: [
    {start: '0x0', last: '0xfedfffff'},
    {start: '0xfef00000', last: '0xffffffffffff'},
  ],
}

describe('renderHwInfo', () => {
  it('names the type with its number, and each capability bit in words', () => {
    const text = plain(renderHwInfo(base))
    assert.match(lineOf(text, 'device'), /0000:00:03\.0 \(\/dev\/vfio\/devices\/vfio0\)$/)
    assert.match(lineOf(text, 'iommu type'), /arm-smmuv3 \(2\)$/)
    assert.match(
      lineOf(text, 'capabilities'),
      /0x1: dirty tracking yes, PASID exec no, PASID priv no, ATS not supported$/,
    )
    assert.match(lineOf(text, 'pasid width'), /no PASID$/)
    assert.match(lineOf(text, 'idr'), /0x1 0x2 0x3 0x4 0x5 0x6$/)
    // IDR0 1 is S2P only, IDR1 2 is SIDSIZE 2, IDR5 6 is OAS 6 (52 bits) and no granule bit,
    // IIDR 0x43b is Arm's JEP106 code with product 0, AIDR 2 is SMMUv3.2.
    assert.match(
      lineOf(text, 'smmuv3'),
      /^smmuv3 +SMMUv3\.2 \(Arm r0p0\), stage 2, 52-bit output, 2-bit StreamID, stall, not coherent$/,
    )
  })

  it('the IOVA ranges as a START/LAST table, the hole at the MSI window visible', () => {
    const lines = plain(renderHwInfo(base)).split('\n')
    const at = lines.indexOf('IOVA ranges of an IOAS attached to it')
    assert.deepEqual(lines[at + 1]!.split(/\s+/), ['START', 'LAST'])
    assert.deepEqual(
      lines.slice(at + 2).map((l) => l.split(/\s+/)),
      [
        ['0x0', '0xfedfffff'],
        ['0xfef00000', '0xffffffffffff'],
      ],
    )
  })

  it('a PASID width in bits, and ATS usable when the IOMMU does not forbid it', () => {
    const text = plain(
      renderHwInfo({...base, maxPasidLog2: 20, capabilities: {...base.capabilities, atsNotSupported: false}}),
    )
    assert.match(lineOf(text, 'pasid width'), /20 bits$/)
    assert.match(lineOf(text, 'capabilities'), /ATS usable$/)
  })
})
