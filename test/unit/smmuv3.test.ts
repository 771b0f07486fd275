import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {describe, it} from 'node:test'

import {decodeSmmuV3, smmuV3Features} from '../../src/decode/smmuv3.js'
import {readUnits} from '../../src/model/units.js'
import {Root} from '../../src/sysfs/root.js'

// Register words are built here from the bit positions of drivers/iommu/arm/arm-smmu-v3/
// arm-smmu-v3.h (IDR0_S1P is bit 1, IDR0_TTF is GENMASK(3, 2), ...), not from the decoder.
const IDR0 = {
  S2P: 1 << 0,
  S1P: 1 << 1,
  TTF: (v: number) => v << 2,
  COHACC: 1 << 4,
  BTM: 1 << 5,
  HTTU: (v: number) => v << 6,
  HYP: 1 << 9,
  ATS: 1 << 10,
  ASID16: 1 << 12,
  MSI: 1 << 13,
  SEV: 1 << 14,
  PRI: 1 << 16,
  VMID16: 1 << 18,
  CD2L: 1 << 19,
  TTENDIAN: (v: number) => v << 21,
  STALL_MODEL: (v: number) => v << 24,
  ST_LVL: (v: number) => v << 27,
}
const IDR1 = {
  SIDSIZE: (v: number) => v,
  SSIDSIZE: (v: number) => v << 6,
  PRIQS: (v: number) => v << 11,
  EVTQS: (v: number) => v << 16,
  CMDQS: (v: number) => v << 21,
}
const IDR5 = {
  OAS: (v: number) => v,
  GRAN4K: 1 << 4,
  GRAN16K: 1 << 5,
  GRAN64K: 1 << 6,
  VAX: (v: number) => v << 10,
}
const iidr = (implementer: number, productId: number, variant: number, revision: number) =>
  ((productId << 20) | (variant << 16) | (revision << 12) | implementer) >>> 0

// QEMU's emulated SMMUv3 as hw/arm/smmuv3.c smmuv3_init_regs() sets it up with stage=1: stage 1
// only, AArch64 tables, coherent, 16-bit ASIDs, little-endian, terminate model, two-level
// stream table; 16-bit StreamIDs and no substreams; 44-bit output, 4K and 64K granules; AIDR 1.
const qemu = decodeSmmuV3(
  [
    IDR0.S1P |
      IDR0.TTF(2) |
      IDR0.COHACC |
      IDR0.ASID16 |
      IDR0.TTENDIAN(2) |
      IDR0.STALL_MODEL(1) |
      IDR0.ST_LVL(1),
    IDR1.SIDSIZE(16) | IDR1.EVTQS(19) | IDR1.CMDQS(19),
    0,
    0,
    0,
    IDR5.OAS(4) | IDR5.GRAN4K | IDR5.GRAN64K,
  ],
  0,
  1,
)

// An Arm MMU-700 r1p2 that has everything: both stages, HTTU with dirty state, ATS and PRI,
// 20-bit substreams, range invalidation, 52-bit addresses.
const mmu700 = decodeSmmuV3(
  [
    IDR0.S1P |
      IDR0.S2P |
      IDR0.TTF(3) |
      IDR0.COHACC |
      IDR0.BTM |
      IDR0.HTTU(2) |
      IDR0.HYP |
      IDR0.ATS |
      IDR0.ASID16 |
      IDR0.MSI |
      IDR0.SEV |
      IDR0.PRI |
      IDR0.VMID16 |
      IDR0.CD2L |
      IDR0.TTENDIAN(0) |
      IDR0.STALL_MODEL(0) |
      IDR0.ST_LVL(1),
    IDR1.SIDSIZE(32) | IDR1.SSIDSIZE(20) | IDR1.PRIQS(19) | IDR1.EVTQS(19) | IDR1.CMDQS(19),
    0,
    1 << 10,
    0,
    IDR5.OAS(6) | IDR5.GRAN4K | IDR5.GRAN16K | IDR5.GRAN64K | IDR5.VAX(1) | (0x80 << 16),
  ],
  iidr(0x43b, 0x487, 1, 2),
  2,
)

describe('decodeSmmuV3', () => {
  it("QEMU's emulated SMMUv3: stage 1 only, the fields by the kernel's names", () => {
    assert.equal(qemu.version, '3.1')
    assert.deepEqual(
      [qemu.idr0.s1p, qemu.idr0.s2p, qemu.idr0.ttf, qemu.idr0.asidBits, qemu.idr0.vmidBits],
      [true, false, ['AArch64'], 16, 8],
    )
    assert.equal(qemu.idr0.ttendian, 'little')
    assert.equal(qemu.idr0.stallModel, 'terminate only')
    assert.equal(qemu.idr0.streamTable, 'two-level')
    assert.deepEqual(
      [qemu.idr1.sidBits, qemu.idr1.ssidBits, qemu.idr1.evtqLog2, qemu.idr1.cmdqLog2],
      [16, 0, 19, 19],
    )
    assert.deepEqual([qemu.idr5.oasBits, qemu.idr5.granules, qemu.idr5.vaBits], [44, ['4K', '64K'], 48])
    assert.equal(qemu.implementation.implementerName, null)
    assert.equal(
      qemu.summary,
      'SMMUv3.1, stage 1, AArch64 tables, 4K+64K granules, 44-bit output, 16-bit StreamID, MSI'.replace(
        ', MSI',
        '',
      ),
    )
    assert.deepEqual(smmuV3Features(qemu), {
      scalableMode: null,
      pasid: false,
      nesting: false,
      dirtyTracking: false,
      interruptRemapping: null,
    })
  })

  it('an Arm MMU-700 r1p2: maker, revision, both stages, and the errata the kernel applies', () => {
    assert.equal(mmu700.version, '3.2')
    assert.deepEqual(mmu700.implementation, {
      implementer: 0x43b,
      implementerName: 'Arm',
      productId: 0x487,
      productName: 'MMU-700',
      variant: 1,
      revision: 2,
    })
    assert.equal(mmu700.idr0.httu, 'access+dirty')
    assert.equal(mmu700.idr0.ttendian, 'mixed')
    assert.deepEqual(mmu700.idr0.ttf, ['AArch32', 'AArch64'])
    assert.deepEqual([mmu700.idr1.sidBits, mmu700.idr1.ssidBits, mmu700.idr1.priqLog2], [32, 20, 19])
    assert.equal(mmu700.idr3.ril, true)
    assert.deepEqual(
      [mmu700.idr5.oasBits, mmu700.idr5.vaBits, mmu700.idr5.granules, mmu700.idr5.stallMax],
      [52, 52, ['4K', '16K', '64K'], 0x80],
    )
    assert.equal(
      mmu700.summary,
      'SMMUv3.2 (Arm MMU-700 r1p2), stage 1 + stage 2, AArch32/AArch64 tables, 4K+16K+64K granules, 52-bit output, 32-bit StreamID, 20-bit SubstreamID, ATS, PRI, HTTU access+dirty, stall, BTM, range invalidation, MSI',
    )
    // Both stages, but arm_smmu_device_iidr_probe() clears ARM_SMMU_FEAT_NESTING on MMU-700.
    const f = smmuV3Features(mmu700)
    assert.deepEqual([f.pasid, f.nesting, f.dirtyTracking], [true, false, true])
  })

  it('nesting where both stages are there and no erratum takes it away; MMU-600 from r2 on', () => {
    const words = [IDR0.S1P | IDR0.S2P | IDR0.COHACC, 0, 0, 0, 0, 0]
    assert.equal(smmuV3Features(decodeSmmuV3(words, 0, 0)).nesting, true)
    assert.equal(smmuV3Features(decodeSmmuV3(words, iidr(0x43b, 0x483, 1, 0), 0)).nesting, false)
    assert.equal(smmuV3Features(decodeSmmuV3(words, iidr(0x43b, 0x483, 2, 0), 0)).nesting, true)
    // Dirty state needs coherent table walks.
    const incoherent = decodeSmmuV3([IDR0.S1P | IDR0.HTTU(2), 0, 0, 0, 0, 0], 0, 0)
    assert.equal(smmuV3Features(incoherent).dirtyTracking, false)
    assert.match(incoherent.summary, /not coherent$/)
  })

  it('reserved encodings are named reserved, never guessed; missing words read as 0', () => {
    const d = decodeSmmuV3([0xffffffff, 0xffffffff, 0, 0xffffffff, 0, 0xffffffff], 0xffffffff, 0xff)
    assert.equal(d.idr0.httu, 'reserved')
    assert.equal(d.idr0.ttendian, 'big')
    assert.equal(d.idr0.stallModel, 'reserved')
    assert.equal(d.idr0.streamTable, 'reserved')
    assert.equal(d.idr5.oasBits, null)
    assert.equal(d.idr5.vaBits, null)
    assert.equal(d.implementation.implementerName, null)
    // All zero: STALL_MODEL 0 is "stall and terminate", OAS 0 is 32 bits.
    const empty = decodeSmmuV3([], 0, 0)
    assert.equal(
      empty.summary,
      'SMMUv3.0, no translation stage, 32-bit output, 0-bit StreamID, stall, not coherent',
    )
  })
})

describe('readUnits: an SMMUv3 unit', () => {
  it('is named arm-smmu-v3 with its devices, and its summary says where its registers are', () => {
    // As arm-smmu-v3.c registers it: /sys/class/iommu/smmu3.%pa, a link into the platform
    // device, with no attribute group of its own (QEMU virt's SMMUv3 sits at 0x9050000).
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-smmuv3-'))
    try {
      const name = 'smmu3.0x0000000009050000'
      const unit = path.join(tmp, 'sys/devices/platform/9050000.smmuv3/iommu', name)
      fs.mkdirSync(path.join(unit, 'devices'), {recursive: true})
      fs.symlinkSync('../../../../pci0000:00/0000:00:01.0', path.join(unit, 'devices/0000:00:01.0'))
      fs.mkdirSync(path.join(tmp, 'sys/class/iommu'), {recursive: true})
      fs.symlinkSync(
        `../../devices/platform/9050000.smmuv3/iommu/${name}`,
        path.join(tmp, 'sys/class/iommu', name),
      )
      const [u, ...rest] = readUnits(new Root(tmp))
      assert.equal(rest.length, 0)
      assert.equal(u!.kind, 'arm-smmu-v3')
      assert.deepEqual(u!.devices, ['0000:00:01.0'])
      assert.match(u!.summary, /^Arm SMMUv3 at 0x0000000009050000: .*iommuctl hw-info BDF/)
    } finally {
      fs.rmSync(tmp, {recursive: true, force: true})
    }
  })
})
