import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {
  amdViBootLine,
  amdViSummary,
  decodeAmdViControl,
  decodeAmdViEfr,
  decodeAmdViStatus,
  parseAmdDebugfsRegister,
  parseAmdViRegisters,
} from '../../src/decode/amdvi.js'
import {unpackFixture} from '../helpers/cli.js'

// Expectations come from drivers/iommu/amd/amd_iommu_types.h and init.c in Linux 7.2 where they
// define a field, and from the EFR layout of AMD IOMMU spec 48882 where they do not: each case
// sets only the bits one field holds, and a field set to all ones must leave the others alone.
const bit = (n: number) => 1n << BigInt(n)
const bits = (...ns: number[]) => ns.reduce((v, n) => v | bit(n), 0n)
const put = (value: number, lo: number) => BigInt(value) << BigInt(lo)

const ZERO = decodeAmdViEfr(0n, 0n)

describe('decodeAmdViEfr', () => {
  it('reads all-zero registers as nothing supported, with the fields that count from one or four', () => {
    assert.deepEqual(ZERO, {
      prefSup: false,
      pprSup: false,
      x2apicSup: false,
      nxSup: false,
      gtSup: false,
      iaSup: false,
      gaSup: false,
      heSup: false,
      pcSup: false,
      hats: 4, // HATS 00b + PAGE_MODE_4_LEVEL
      gats: 4, // GUEST_PGTABLE_4_LEVEL
      glxSup: 1, // GLX 00b: a one-level GCR3 table
      smifSup: 0,
      smifRc: 1, // 2^0 registers
      gamSup: 0,
      dualPprLogSup: 0,
      dualEventLogSup: 0,
      satsSup: false,
      pasMax: 1, // max_pasids = (1 << (PASmax + 1)) - 1
      usSup: false,
      devTblSegSup: 1, // 2^0: one unsegmented table
      pprOvrflwEarlySup: false,
      pprAutoRspSup: false,
      marcSup: 0,
      blkStopMrkSup: false,
      perfOptSup: false,
      msiCapMmioSup: false,
      gioSup: false,
      haSup: false,
      ephSup: false,
      attrFwSup: false,
      hdSup: false,
      invIotlbTypeSup: false,
      vIommuSup: false,
      gaUpdateDisSup: false,
      forcePhyDestSup: false,
      snpSup: false,
      sevSnpIoSup: false,
      gcr3TrpModeSup: false,
      snpAvicSup: 0,
      numIntRemapSup: 512, // MAX_IRQS_PER_TABLE_512
      htRangeIgnore: false,
    })
  })

  const efrFlags = [
    ['prefSup', 0], // FEATURE_PREFETCH
    ['pprSup', 1], // FEATURE_PPR
    ['x2apicSup', 2], // FEATURE_X2APIC
    ['nxSup', 3], // FEATURE_NX
    ['gtSup', 4], // FEATURE_GT
    ['iaSup', 6], // FEATURE_IA
    ['gaSup', 7], // FEATURE_GA
    ['heSup', 8], // FEATURE_HE
    ['pcSup', 9], // FEATURE_PC
    ['satsSup', 31], // spec SATSSup
    ['usSup', 37], // spec USSup
    ['pprOvrflwEarlySup', 40], // spec
    ['pprAutoRspSup', 41], // spec
    ['blkStopMrkSup', 44], // spec
    ['perfOptSup', 45], // spec
    ['msiCapMmioSup', 46], // IOMMU_EFR_MSICAPMMIOSUP_SHIFT
    ['gioSup', 48], // FEATURE_GIOSUP
    ['haSup', 49], // FEATURE_HASUP
    ['ephSup', 50], // FEATURE_EPHSUP
    ['attrFwSup', 51], // spec
    ['hdSup', 52], // FEATURE_HDSUP
    ['invIotlbTypeSup', 54], // spec
    ['vIommuSup', 55], // spec
    ['gaUpdateDisSup', 61], // spec
    ['forcePhyDestSup', 62], // spec
    ['snpSup', 63], // FEATURE_SNP
  ] as const
  for (const [name, n] of efrFlags) {
    it(`EFR bit ${n} alone sets ${name} and nothing else`, () => {
      assert.deepEqual(decodeAmdViEfr(bit(n), 0n), {...ZERO, [name]: true})
    })
  }

  const efr2Flags = [
    ['sevSnpIoSup', 1], // FEATURE_SEVSNPIO_SUP
    ['gcr3TrpModeSup', 3], // FEATURE_GCR3TRPMODE
    ['htRangeIgnore', 11], // FEATURE_HT_RANGE_IGNORE
  ] as const
  for (const [name, n] of efr2Flags) {
    it(`EFR2 bit ${n} alone sets ${name} and nothing else`, () => {
      assert.deepEqual(decodeAmdViEfr(0n, bit(n)), {...ZERO, [name]: true})
    })
  }

  it('has no field for EFR bit 5, nor for the reserved EFR bits 26, 27, 30, 47, 53, 56-60', () => {
    assert.deepEqual(decodeAmdViEfr(bits(5, 26, 27, 30, 47, 53, 56, 57, 58, 59, 60), 0n), ZERO)
  })

  it('reads nothing from the EFR2 bits the kernel does not define (0, 2, 4, 10, 12-63)', () => {
    const undefinedBits = [0, 2, 4, 10, ...Array.from({length: 52}, (_, i) => 12 + i)]
    assert.deepEqual(decodeAmdViEfr(0n, bits(...undefinedBits)), ZERO)
  })

  it('hats: 11:10 is HATS + 4 levels; 11b, which init.c rejects, is null', () => {
    assert.equal(decodeAmdViEfr(put(1, 10), 0n).hats, 5)
    assert.equal(decodeAmdViEfr(put(2, 10), 0n).hats, 6)
    assert.deepEqual(decodeAmdViEfr(put(3, 10), 0n), {...ZERO, hats: null})
    assert.equal(decodeAmdViEfr(bits(9, 12), 0n).hats, 4)
  })

  it('gats: 13:12 is 4 or 5 levels (GUEST_PGTABLE_*), null for the values the kernel does not know', () => {
    assert.equal(decodeAmdViEfr(put(1, 12), 0n).gats, 5)
    assert.equal(decodeAmdViEfr(put(2, 12), 0n).gats, null)
    assert.deepEqual(decodeAmdViEfr(put(3, 12), 0n), {...ZERO, gats: null})
    assert.equal(decodeAmdViEfr(bits(11, 14), 0n).gats, 4)
  })

  it('glxSup: 15:14 plus one GCR3 table level', () => {
    assert.equal(decodeAmdViEfr(put(1, 14), 0n).glxSup, 2)
    assert.deepEqual(decodeAmdViEfr(put(3, 14), 0n), {...ZERO, glxSup: 4})
    assert.equal(decodeAmdViEfr(bits(13, 16), 0n).glxSup, 1)
  })

  it('smifSup: 17:16 as it is', () => {
    assert.deepEqual(decodeAmdViEfr(put(3, 16), 0n), {...ZERO, smifSup: 3})
    assert.equal(decodeAmdViEfr(bits(15, 18), 0n).smifSup, 0)
  })

  it('smifRc: 20:18 is a power of two of registers', () => {
    assert.equal(decodeAmdViEfr(put(1, 18), 0n).smifRc, 2)
    assert.equal(decodeAmdViEfr(put(4, 18), 0n).smifRc, 16)
    assert.deepEqual(decodeAmdViEfr(put(7, 18), 0n), {...ZERO, smifRc: 128})
    assert.equal(decodeAmdViEfr(bits(17, 21), 0n).smifRc, 1)
  })

  it('gamSup: 23:21 as it is', () => {
    assert.equal(decodeAmdViEfr(put(1, 21), 0n).gamSup, 1)
    assert.deepEqual(decodeAmdViEfr(put(7, 21), 0n), {...ZERO, gamSup: 7})
    assert.equal(decodeAmdViEfr(bits(20, 24), 0n).gamSup, 0)
  })

  it('dualPprLogSup: 25:24 and dualEventLogSup: 29:28, as they are', () => {
    assert.deepEqual(decodeAmdViEfr(put(3, 24), 0n), {...ZERO, dualPprLogSup: 3})
    assert.equal(decodeAmdViEfr(bits(23, 26), 0n).dualPprLogSup, 0)
    assert.deepEqual(decodeAmdViEfr(put(3, 28), 0n), {...ZERO, dualEventLogSup: 3})
    assert.equal(decodeAmdViEfr(bits(27, 30), 0n).dualEventLogSup, 0)
  })

  it('pasMax: 36:32 plus one bit', () => {
    assert.equal(decodeAmdViEfr(put(15, 32), 0n).pasMax, 16)
    assert.deepEqual(decodeAmdViEfr(put(0x1f, 32), 0n), {...ZERO, pasMax: 32})
    assert.equal(decodeAmdViEfr(bits(31, 37), 0n).pasMax, 1)
  })

  it('devTblSegSup: 39:38 is a power of two of segments', () => {
    assert.equal(decodeAmdViEfr(put(1, 38), 0n).devTblSegSup, 2)
    assert.deepEqual(decodeAmdViEfr(put(3, 38), 0n), {...ZERO, devTblSegSup: 8})
    assert.equal(decodeAmdViEfr(bits(37, 40), 0n).devTblSegSup, 1)
  })

  it('marcSup: 43:42 as it is', () => {
    assert.deepEqual(decodeAmdViEfr(put(3, 42), 0n), {...ZERO, marcSup: 3})
    assert.equal(decodeAmdViEfr(bits(41, 44), 0n).marcSup, 0)
  })

  it('snpAvicSup: EFR2 7:5 as it is', () => {
    assert.equal(decodeAmdViEfr(0n, put(1, 5)).snpAvicSup, 1)
    assert.deepEqual(decodeAmdViEfr(0n, put(7, 5)), {...ZERO, snpAvicSup: 7})
    assert.equal(decodeAmdViEfr(0n, bits(4, 8)).snpAvicSup, 0)
  })

  it('numIntRemapSup: EFR2 9:8 is 512 or 2048 entries, null when reserved', () => {
    assert.equal(decodeAmdViEfr(0n, put(1, 8)).numIntRemapSup, 2048)
    assert.equal(decodeAmdViEfr(0n, put(2, 8)).numIntRemapSup, null)
    assert.deepEqual(decodeAmdViEfr(0n, put(3, 8)), {...ZERO, numIntRemapSup: null})
    assert.equal(decodeAmdViEfr(0n, bits(7, 10)).numIntRemapSup, 512)
  })
})

describe('amdViBootLine', () => {
  it('names the low ten EFR bits in feat_str order, bit 5 as "[5]"', () => {
    const names = ['PreF', 'PPR', 'X2APIC', 'NX', 'GT', '[5]', 'IA', 'GA', 'HE', 'PC']
    names.forEach((name, n) => assert.equal(amdViBootLine(bit(n), 0n), name))
    assert.equal(amdViBootLine(put(0x3ff, 0), 0n), names.join(' '))
  })

  it('adds GA_vAPIC for EFR bit 21 alone, the low bit of GAMSup, then SNP and SEV-TIO', () => {
    assert.equal(amdViBootLine(bit(21), 0n), 'GA_vAPIC')
    assert.equal(amdViBootLine(bit(22), 0n), '')
    assert.equal(amdViBootLine(bits(0, 21, 63), bit(1)), 'PreF GA_vAPIC SNP SEV-TIO')
  })

  it('is null when EFR is zero, as the kernel then prints no line, and empty when no named bit is set', () => {
    assert.equal(amdViBootLine(0n, bit(1)), null)
    assert.equal(amdViBootLine(put(2, 10), 0n), '')
  })
})

describe('amdViSummary', () => {
  it('names guest translation with its PASID width, PPR, GA and x2APIC', () => {
    // EFR: PPR 1, X2APIC 2, GT 4, GA 7, GATS 01b (5-level), PASmax 15 (16 bits).
    const f = decodeAmdViEfr(bits(1, 2, 4, 7) | put(1, 12) | put(15, 32), 0n)
    assert.equal(
      amdViSummary(f),
      '4-level host tables, 5-level guest translation, 16-bit PASID, PPR, GA interrupt remapping, x2APIC',
    )
  })

  it('leaves the PASID width out without guest translation, as init.c does', () => {
    assert.equal(amdViSummary(decodeAmdViEfr(put(15, 32), 0n)), '4-level host tables')
  })

  it('says when HATS leaves no host translation', () => {
    assert.equal(
      amdViSummary(decodeAmdViEfr(put(3, 10) | bit(52), 0n)),
      'no host translation, dirty tracking',
    )
  })
})

describe('parseAmdViRegisters', () => {
  let tmp: string
  let dir: string
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-amdvi-'))
    dir = path.join(unpackFixture('amd', tmp), 'sys/devices/pci0000:00/0000:00:01.0/iommu/ivhd0/amd-iommu')
  })
  after(() => fs.rmSync(tmp, {recursive: true, force: true}))
  const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8')

  it('decodes the QEMU unit from the amd fixture as worked by hand, and as its kernel printed', () => {
    const r = parseAmdViRegisters({cap: read('cap'), features: read('features')})
    assert.equal(r.cap, '0x1f03000f')
    assert.equal(r.efr, '0x29d3')
    assert.equal(r.efr2, '0x0')
    // EFR 0x29d3 = 0010 1001 1101 0011b, bits 0,1,4,6,7,8,11,13:
    //   PreF 0, PPR 1, GT 4, IA 6, GA 7, HE 8; HATS 11:10 = 10b -> 6 levels;
    //   GATS 13:12 = 10b -> no depth the kernel knows; PASmax 36:32 = 0 -> 1 bit. EFR2 0.
    assert.deepEqual(r.features, {
      ...ZERO,
      prefSup: true,
      pprSup: true,
      gtSup: true,
      iaSup: true,
      gaSup: true,
      heSup: true,
      hats: 6,
      gats: null,
    })
    // That kernel's boot log: "AMD-Vi: Extended features (0x29d3, 0x0): PreF PPR GT IA GA HE".
    assert.equal(r.bootLine, 'PreF PPR GT IA GA HE')
    assert.equal(
      `AMD-Vi: Extended features (${r.efr}, ${r.efr2}): ${r.bootLine}`,
      'AMD-Vi: Extended features (0x29d3, 0x0): PreF PPR GT IA GA HE',
    )
    assert.equal(
      r.summary,
      '6-level host tables, guest translation, 1-bit PASID, PPR, GA interrupt remapping',
    )
  })

  it('holds no bigint: it survives JSON unchanged', () => {
    const r = parseAmdViRegisters({cap: 'ffffffff', features: 'ffffffffffffffff:ffffffffffffffff'})
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r)
  })

  it('prints registers lowercase and unpadded, whatever the text had', () => {
    const r = parseAmdViRegisters({cap: '001F03000F\n', features: '00029D3:00\n'})
    assert.equal(r.cap, '0x1f03000f')
    assert.equal(r.efr, '0x29d3')
    assert.equal(r.efr2, '0x0')
    assert.equal(parseAmdViRegisters({cap: '100000000', features: null}).cap, null) // wider than a u32
  })

  it('gives null, not a guess, for absent or malformed files', () => {
    for (const features of [null, '29d3', '0x29d3:0', '29d3:0:0', '10000000000000000:0']) {
      assert.deepEqual(parseAmdViRegisters({cap: null, features}), {
        cap: null,
        efr: null,
        efr2: null,
        features: null,
        bootLine: null,
        summary: 'capabilities unknown: features unreadable',
      })
    }
  })
})

describe("AMD-Vi live registers (a unit's debugfs mmio)", () => {
  it("parses the kernel's Offset/Value line, and says when no offset was chosen", () => {
    // The example of Documentation/ABI/testing/debugfs-amd-iommu.
    assert.deepEqual(parseAmdDebugfsRegister('Offset:0x18 Value:0x000c22000003f48d\n'), {
      offset: 0x18,
      value: 0x000c22000003f48dn,
    })
    const none = parseAmdDebugfsRegister("Please provide mmio register's offset\n")
    assert.match((none as {note: string}).note, /no offset was chosen/)
    assert.match(
      (parseAmdDebugfsRegister('Offset:0x18 Value:zz') as {note: string}).note,
      /not in the format/,
    )
  })

  it('Control: IommuEn 0, EventLogEn 2, EventIntEn 3, CmdBufEn 12, PPRLogEn 13, PPREn 15, GTEn 16, GAEn 17, XTEn 50', () => {
    // The ABI example's 0x000c22000003f48d: bits 0, 2, 3, 7, 10, 12-17 and 50 (XTEn) among others.
    const c = decodeAmdViControl(0x000c22000003f48dn)
    assert.deepEqual(c, {
      iommuEnabled: true,
      eventLog: true,
      eventInterrupt: true,
      commandBuffer: true,
      pprLog: true,
      ppr: true,
      guestTranslation: true,
      guestVapic: true,
      x2apic: true,
    })
    assert.ok(Object.values(decodeAmdViControl(0n)).every((v) => v === false))
    assert.deepEqual(decodeAmdViControl(1n << 12n).commandBuffer, true)
  })

  it('Status: EventOverflow 0, EventLogRun 3, CmdBufRun 4, PprOverflow 5', () => {
    const s = decodeAmdViStatus(0b111001n)
    assert.deepEqual(
      Object.entries(s)
        .filter(([, v]) => v)
        .map(([k]) => k),
      ['eventOverflow', 'eventLogRunning', 'commandBufferRunning', 'pprOverflow'],
    )
  })
})
