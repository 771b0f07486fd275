import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {decodeVtdCap, decodeVtdEcap, parseVtdRegisters, vtdSummary} from '../../src/decode/vtd.js'
import {unpackFixture} from '../helpers/cli.js'

// Expectations come from drivers/iommu/intel/iommu.h in Linux 7.2 (cap_*, ecap_*), not from the
// decoder: each case sets only the bits a macro reads, and a field set to all ones must leave
// every other field as it was.
const bit = (n: number) => 1n << BigInt(n)
const bits = (...ns: number[]) => ns.reduce((v, n) => v | bit(n), 0n)
const put = (value: number, lo: number) => BigInt(value) << BigInt(lo)

const CAP_ZERO = decodeVtdCap(0n)
const ECAP_ZERO = decodeVtdEcap(0n)

describe('decodeVtdCap', () => {
  it('reads an all-zero register as nothing supported, with the fields the kernel offsets', () => {
    assert.deepEqual(CAP_ZERO, {
      nd: 16, // cap_ndoms: 1 << (4 + 2 * 0)
      afl: false,
      rwbf: false,
      plmr: false,
      phmr: false,
      cm: false,
      sagaw: [],
      mgaw: 1, // cap_mgaw adds one
      zlr: false,
      fro: 0,
      sllps: [],
      psi: false,
      nfr: 1, // cap_num_fault_regs adds one
      mamv: 0,
      dwd: false,
      drd: false,
      fl1gp: false,
      pi: false,
      fl5lp: false,
      ecmds: false,
      esirtps: false,
      esrtps: false,
    })
  })

  const flags = [
    ['afl', 3], // cap_afl
    ['rwbf', 4], // cap_rwbf
    ['plmr', 5], // cap_plmr
    ['phmr', 6], // cap_phmr
    ['cm', 7], // cap_caching_mode
    ['zlr', 22], // cap_zlr
    ['psi', 39], // cap_pgsel_inv
    ['dwd', 54], // cap_write_drain
    ['drd', 55], // cap_read_drain
    ['fl1gp', 56], // cap_fl1gp_support
    ['pi', 59], // cap_pi_support
    ['fl5lp', 60], // cap_fl5lp_support
    ['ecmds', 61], // cap_ecmds
    ['esirtps', 62], // cap_esirtps
    ['esrtps', 63], // cap_esrtps
  ] as const
  for (const [name, n] of flags) {
    it(`bit ${n} alone sets ${name} and nothing else`, () => {
      assert.deepEqual(decodeVtdCap(bit(n)), {...CAP_ZERO, [name]: true})
    })
  }

  it('ignores the bits it has no field for (23 isoch, 38, 57, 58)', () => {
    assert.deepEqual(decodeVtdCap(bits(23, 38, 57, 58)), CAP_ZERO)
  })

  it('nd: bits 2:0 give 2^(4 + 2*ND) domains; bit 3 is not part of it', () => {
    assert.equal(decodeVtdCap(put(1, 0)).nd, 64)
    assert.equal(decodeVtdCap(put(6, 0)).nd, 65536)
    assert.deepEqual(decodeVtdCap(put(7, 0)), {...CAP_ZERO, nd: 262144})
    assert.equal(decodeVtdCap(bit(3)).nd, 16)
  })

  it('sagaw: bit 8+n of 12:8 is an AGAW of n + 2 levels (agaw_to_level)', () => {
    assert.deepEqual(decodeVtdCap(bit(9)).sagaw, [3]) // 39-bit
    assert.deepEqual(decodeVtdCap(bit(10)).sagaw, [4]) // 48-bit
    assert.deepEqual(decodeVtdCap(bit(11)).sagaw, [5]) // 57-bit
    assert.deepEqual(decodeVtdCap(put(0x1f, 8)), {...CAP_ZERO, sagaw: [2, 3, 4, 5, 6]})
    assert.deepEqual(decodeVtdCap(bits(7, 13)).sagaw, [])
  })

  it('mgaw: bits 21:16 plus one', () => {
    assert.equal(decodeVtdCap(put(47, 16)).mgaw, 48)
    assert.equal(decodeVtdCap(put(56, 16)).mgaw, 57)
    assert.deepEqual(decodeVtdCap(put(0x3f, 16)), {...CAP_ZERO, mgaw: 64})
    assert.equal(decodeVtdCap(bits(15, 22)).mgaw, 1)
  })

  it('fro: bits 33:24 times 16', () => {
    assert.equal(decodeVtdCap(put(1, 24)).fro, 16)
    assert.deepEqual(decodeVtdCap(put(0x3ff, 24)), {...CAP_ZERO, fro: 0x3ff0})
    assert.equal(decodeVtdCap(bits(23, 34)).fro, 0)
  })

  it('sllps: bits 34..37 are 2M, 1G, 512G, 1T (cap_super_page_val)', () => {
    assert.deepEqual(decodeVtdCap(bit(34)).sllps, ['2M'])
    assert.deepEqual(decodeVtdCap(bit(35)).sllps, ['1G'])
    assert.deepEqual(decodeVtdCap(bit(36)).sllps, ['512G'])
    assert.deepEqual(decodeVtdCap(bit(37)).sllps, ['1T'])
    assert.deepEqual(decodeVtdCap(put(0xf, 34)), {...CAP_ZERO, sllps: ['2M', '1G', '512G', '1T']})
    assert.deepEqual(decodeVtdCap(bits(33, 38)).sllps, [])
  })

  it('nfr: bits 47:40 plus one', () => {
    assert.equal(decodeVtdCap(put(7, 40)).nfr, 8)
    assert.deepEqual(decodeVtdCap(put(0xff, 40)), {...CAP_ZERO, nfr: 256})
    assert.equal(decodeVtdCap(bits(39, 48)).nfr, 1)
  })

  it('mamv: bits 53:48 as they are', () => {
    assert.equal(decodeVtdCap(put(18, 48)).mamv, 18)
    assert.deepEqual(decodeVtdCap(put(0x3f, 48)), {...CAP_ZERO, mamv: 63})
    assert.equal(decodeVtdCap(bits(47, 54)).mamv, 0)
  })
})

describe('decodeVtdEcap', () => {
  it('reads an all-zero register as nothing supported, with the fields the kernel offsets', () => {
    assert.deepEqual(ECAP_ZERO, {
      c: false,
      qi: false,
      dt: false,
      ir: false,
      eim: false,
      pt: false,
      sc: false,
      iro: 0,
      mhmv: 0,
      mts: false,
      nest: false,
      dis: false,
      prs: false,
      ers: false,
      srs: false,
      nwfs: false,
      eafs: false,
      pss: 1, // the kernel allows 2 << PSS PASIDs: PSS + 1 bits
      pasid: false,
      dit: false,
      pds: false,
      smts: false,
      slads: false,
      slts: false,
      flts: false,
      smpwc: false,
      rps: false,
      pms: false,
    })
  })

  const flags = [
    ['c', 0], // ecap_coherent
    ['qi', 1], // ecap_qis, which returns e & 0x2 unshifted
    ['dt', 2], // ecap_dev_iotlb_support
    ['ir', 3], // ecap_ir_support
    ['eim', 4], // ecap_eim_support
    ['pt', 6], // ecap_pass_through
    ['sc', 7], // ecap_sc_support
    ['mts', 25], // ecap_mts
    ['nest', 26], // ecap_nest
    ['dis', 27], // ecap_dis
    ['prs', 29], // ecap_prs
    ['ers', 30], // ecap_ers
    ['srs', 31], // ecap_srs
    ['nwfs', 33], // ecap_nwfs
    ['eafs', 34], // ecap_eafs
    ['pasid', 40], // ecap_pasid
    ['dit', 41], // ecap_dit
    ['pds', 42], // ecap_pds
    ['smts', 43], // ecap_smts
    ['slads', 45], // ecap_slads
    ['slts', 46], // ecap_slts
    ['flts', 47], // ecap_flts
    ['smpwc', 48], // ecap_smpwc
    ['rps', 49], // ecap_rps
    ['pms', 51], // ecap_pms
  ] as const
  for (const [name, n] of flags) {
    it(`bit ${n} alone sets ${name} and nothing else`, () => {
      assert.deepEqual(decodeVtdEcap(bit(n)), {...ECAP_ZERO, [name]: true})
    })
  }

  it('ignores the bits it has no field for (5, 18, 19, 24, 28 broken_pasid, 32, 44, 50, 52-63)', () => {
    const unnamed = [5, 18, 19, 24, 28, 32, 44, 50, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63]
    assert.deepEqual(decodeVtdEcap(bits(...unnamed)), ECAP_ZERO)
  })

  it('iro: bits 17:8 times 16', () => {
    assert.equal(decodeVtdEcap(put(0xf, 8)).iro, 0xf0)
    assert.deepEqual(decodeVtdEcap(put(0x3ff, 8)), {...ECAP_ZERO, iro: 0x3ff0})
    assert.equal(decodeVtdEcap(bits(7, 18)).iro, 0)
  })

  it('mhmv: bits 23:20 as they are', () => {
    assert.deepEqual(decodeVtdEcap(put(0xf, 20)), {...ECAP_ZERO, mhmv: 15})
    assert.equal(decodeVtdEcap(bits(19, 24)).mhmv, 0)
  })

  it('pss: bits 39:35 plus one', () => {
    assert.equal(decodeVtdEcap(put(19, 35)).pss, 20)
    assert.deepEqual(decodeVtdEcap(put(0x1f, 35)), {...ECAP_ZERO, pss: 32})
    assert.equal(decodeVtdEcap(bits(34, 40)).pss, 1)
  })
})

describe('vtdSummary', () => {
  it('puts the mode first and names only what is there', () => {
    // cap: SAGAW bit 10 (4-level), SLLPS bits 34-35 (2M, 1G).
    // ecap: IR 3, EIM 4, NEST 26, PSS 39:35 = 19 (20 bits), PASID 40, SMTS 43.
    const cap = decodeVtdCap(bits(10, 34, 35))
    const ecap = decodeVtdEcap(bits(3, 4, 26, 40, 43) | put(19, 35))
    assert.equal(
      vtdSummary(cap, ecap),
      'scalable mode, 20-bit PASID, nested, 4-level tables, 2M+1G pages, IR with x2APIC',
    )
  })

  it('leaves PASID and nesting out of legacy mode, where the kernel does not use them', () => {
    assert.equal(vtdSummary(CAP_ZERO, decodeVtdEcap(bits(26, 40))), 'legacy mode')
  })

  it('says which translation levels scalable mode has', () => {
    assert.equal(
      vtdSummary(CAP_ZERO, decodeVtdEcap(bits(43, 46, 47))),
      'scalable mode, first-level + second-level translation',
    )
    assert.equal(vtdSummary(CAP_ZERO, decodeVtdEcap(bits(43, 46))), 'scalable mode, second-level translation')
  })

  it('claims dirty tracking only as ssads_supported does: SMTS, SLADS and SMPWC', () => {
    assert.equal(vtdSummary(CAP_ZERO, decodeVtdEcap(bits(43, 45))), 'scalable mode')
    assert.equal(vtdSummary(CAP_ZERO, decodeVtdEcap(bits(43, 45, 48))), 'scalable mode, dirty tracking')
  })
})

describe('parseVtdRegisters', () => {
  let tmp: string
  let dir: string
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vtd-'))
    dir = path.join(unpackFixture('intel', tmp), 'sys/devices/virtual/iommu/dmar0/intel-iommu')
  })
  after(() => fs.rmSync(tmp, {recursive: true, force: true}))
  const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8')

  it('decodes the QEMU q35 unit from the intel fixture as worked by hand', () => {
    const r = parseVtdRegisters({
      version: read('version'),
      address: read('address'),
      cap: read('cap'),
      ecap: read('ecap'),
    })
    assert.equal(r.version, '1:0')
    assert.equal(r.address, '0xfed90000')
    assert.equal(r.cap, '0xd2008c222f0686')
    assert.equal(r.ecap, '0x490080f00f4a')
    // cap 0xd2008c222f0686 has bits 1,2,7,9,10,16-19,21,25,29,34,35,39,49,52,54,55:
    //   ND 2:0 = 110b = 6 -> 1 << 16 = 65536 domains (domains_supported says the same)
    //   CM 7; SAGAW 12:8 = 00110b -> AGAW 1, 2 -> 3- and 4-level
    //   MGAW 21:16 = 101111b = 47 -> 48 bits; FRO 33:24 = 0x22 -> 0x220
    //   SLLPS 37:34 = 0011b -> 2M, 1G; PSI 39; NFR 47:40 = 0 -> 1
    //   MAMV 53:48 = 010010b = 18; DWD 54; DRD 55
    assert.deepEqual(r.capFields, {
      ...CAP_ZERO,
      nd: 65536,
      cm: true,
      sagaw: [3, 4],
      mgaw: 48,
      fro: 0x220,
      sllps: ['2M', '1G'],
      psi: true,
      nfr: 1,
      mamv: 18,
      dwd: true,
      drd: true,
    })
    // ecap 0x490080f00f4a has bits 1,3,6,8-11,20-23,31,40,43,46:
    //   QI 1, IR 3, PT 6; IRO 17:8 = 0xf -> 0xf0; MHMV 23:20 = 0xf
    //   SRS 31; PSS 39:35 = 0 -> 1 bit; PASID 40; SMTS 43; SLTS 46
    assert.deepEqual(r.ecapFields, {
      ...ECAP_ZERO,
      qi: true,
      ir: true,
      pt: true,
      iro: 0xf0,
      mhmv: 15,
      srs: true,
      pss: 1,
      pasid: true,
      smts: true,
      slts: true,
    })
    assert.equal(
      r.summary,
      'scalable mode, 1-bit PASID, second-level translation, 3/4-level tables, 2M+1G pages, pass-through, IR, caching mode',
    )
  })

  it('holds no bigint: it survives JSON unchanged', () => {
    const r = parseVtdRegisters({
      version: '6:0',
      address: 'fed90000',
      cap: 'ffffffffffffffff',
      ecap: 'ffffffffffffffff',
    })
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r)
  })

  it('prints registers lowercase and unpadded, whatever the text had', () => {
    const r = parseVtdRegisters({version: '6:0\n', address: '00FED91000\n', cap: '00D2', ecap: '0'})
    assert.equal(r.version, '6:0')
    assert.equal(r.address, '0xfed91000')
    assert.equal(r.cap, '0xd2')
    assert.equal(r.ecap, '0x0')
  })

  it('gives null, not a guess, for absent or malformed files', () => {
    const r = parseVtdRegisters({version: 'v1', address: null, cap: '0x12', ecap: '1ffffffffffffffff'})
    assert.deepEqual(r, {
      version: null,
      address: null,
      cap: null,
      ecap: null,
      capFields: null,
      ecapFields: null,
      summary: 'capabilities unknown: cap or ecap unreadable',
    })
  })
})
