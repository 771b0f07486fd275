import assert from 'node:assert/strict'
import {NO_CAPS, pickCaps} from '../helpers/pcie.js'
import {describe, it} from 'node:test'

import {decodeConfigSpace, type AcsBits, type PciConfig} from '../../src/decode/pcie.js'

// Offsets and bits below are copied from include/uapi/linux/pci_regs.h by hand, not imported from
// the decoder, so that a wrong constant there fails here.
const PCI_STATUS = 0x06
const PCI_STATUS_CAP_LIST = 0x10
const PCI_HEADER_TYPE = 0x0e
const PCI_CAPABILITY_LIST = 0x34
const PCI_CB_CAPABILITY_LIST = 0x14
const PCI_CAP_ID_PM = 0x01
const PCI_CAP_ID_MSI = 0x05
const PCI_CAP_ID_EXP = 0x10
const PCI_CAP_ID_MSIX = 0x11
const PCI_EXP_FLAGS = 0x02
const PCI_EXT_CAP_ID_ERR = 0x01
const PCI_EXT_CAP_ID_ACS = 0x0d
const PCI_EXT_CAP_ID_ARI = 0x0e
const PCI_EXT_CAP_ID_ATS = 0x0f
const PCI_EXT_CAP_ID_SRIOV = 0x10
const PCI_EXT_CAP_ID_PRI = 0x13
const PCI_EXT_CAP_ID_PASID = 0x1b

/** A config space under construction: a type-0 header with a capability list, nothing else. */
class Config {
  readonly buf: Buffer

  constructor(length = 4096, headerType = 0) {
    this.buf = Buffer.alloc(length)
    this.buf.writeUInt16LE(0x8086, 0)
    this.buf.writeUInt16LE(PCI_STATUS_CAP_LIST, PCI_STATUS)
    this.buf[PCI_HEADER_TYPE] = headerType
  }

  /** Standard capabilities at the given offsets, chained in order from PCI_CAPABILITY_LIST. */
  caps(...list: [id: number, offset: number][]): this {
    this.buf[PCI_CAPABILITY_LIST] = list[0]?.[1] ?? 0
    list.forEach(([id, offset], i) => {
      this.buf[offset] = id
      this.buf[offset + 1] = list[i + 1]?.[1] ?? 0
    })
    return this
  }

  /** Extended capabilities at the given offsets (the first at 0x100), chained in order. */
  ext(...list: [id: number, offset: number, version?: number][]): this {
    list.forEach(([id, offset, version = 1], i) => {
      this.buf.writeUInt32LE((id | (version << 16) | ((list[i + 1]?.[1] ?? 0) << 20)) >>> 0, offset)
    })
    return this
  }

  u16(offset: number, value: number): this {
    this.buf.writeUInt16LE(value, offset)
    return this
  }

  u32(offset: number, value: number): this {
    this.buf.writeUInt32LE(value >>> 0, offset)
    return this
  }

  decode(): PciConfig {
    const config = decodeConfigSpace(this.buf)
    assert.deepEqual(JSON.parse(JSON.stringify(config)), config, 'the record survives JSON')
    return config
  }
}

const NO_ACS: AcsBits = {sv: false, tb: false, rr: false, cr: false, uf: false, ec: false, dt: false}

describe('decodeConfigSpace: header', () => {
  it('reports the header layout and the multi-function bit (PCI_HEADER_TYPE_MFD 0x80) apart', () => {
    for (const [byte, headerType, multifunction] of [
      [0x00, 0, false],
      [0x01, 1, false],
      [0x02, 2, false],
      [0x80, 0, true],
      [0x81, 1, true],
    ] as const) {
      const c = new Config(256, byte).decode()
      assert.deepEqual([c.headerType, c.multifunction], [headerType, multifunction], `header byte ${byte}`)
    }
  })

  it('refuses less than the 64-byte header that sysfs always returns', () => {
    assert.throws(() => decodeConfigSpace(Buffer.alloc(63)), RangeError)
  })

  it('a conventional 256-byte device is complete and has no extended list to read', () => {
    const c = new Config(256).caps([PCI_CAP_ID_PM, 0x40]).decode()
    assert.deepEqual([c.length, c.complete, c.unreadable], [256, true, []])
    assert.deepEqual(c.capabilities, [{id: '0x01', name: 'Power Management', offset: '0x40'}])
    assert.deepEqual(c.extendedCapabilities, [])
  })
})

describe('decodeConfigSpace: PCI Express capability (PCI_EXP_FLAGS)', () => {
  const express = (flags: number) =>
    new Config()
      .caps([PCI_CAP_ID_EXP, 0x40])
      .u16(0x40 + PCI_EXP_FLAGS, flags)
      .decode().express

  it('maps each PCI_EXP_TYPE_* in bits 7:4 to its type, and the reserved codes to null', () => {
    const types: Record<number, string | null> = {
      0x0: 'endpoint', // PCI_EXP_TYPE_ENDPOINT
      0x1: 'legacy-endpoint', // PCI_EXP_TYPE_LEG_END
      0x4: 'root-port', // PCI_EXP_TYPE_ROOT_PORT
      0x5: 'upstream-port', // PCI_EXP_TYPE_UPSTREAM
      0x6: 'downstream-port', // PCI_EXP_TYPE_DOWNSTREAM
      0x7: 'pcie-to-pci-bridge', // PCI_EXP_TYPE_PCI_BRIDGE
      0x8: 'pci-to-pcie-bridge', // PCI_EXP_TYPE_PCIE_BRIDGE
      0x9: 'rc-integrated-endpoint', // PCI_EXP_TYPE_RC_END
      0xa: 'rc-event-collector', // PCI_EXP_TYPE_RC_EC
    }
    for (let code = 0; code < 16; code++) {
      assert.equal(express(code << 4)?.type, types[code] ?? null, `type ${code}`)
    }
  })

  it('reads the version from PCI_EXP_FLAGS_VERS (0x000f), the slot from PCI_EXP_FLAGS_SLOT (0x0100)', () => {
    assert.deepEqual(express(0x0002), {type: 'endpoint', version: 2, slotImplemented: false})
    assert.deepEqual(express(0x000f), {type: 'endpoint', version: 15, slotImplemented: false})
    assert.deepEqual(express(0x0100), {type: 'endpoint', version: 0, slotImplemented: true})
    // The interrupt message number and flit bits above change nothing here.
    assert.deepEqual(express(0xfe00), {type: 'endpoint', version: 0, slotImplemented: false})
  })
})

describe('decodeConfigSpace: ACS (PCI_ACS_CAP 0x04, PCI_ACS_CTRL 0x06)', () => {
  const bits: [keyof AcsBits, number][] = [
    ['sv', 0x0001], // PCI_ACS_SV
    ['tb', 0x0002], // PCI_ACS_TB
    ['rr', 0x0004], // PCI_ACS_RR
    ['cr', 0x0008], // PCI_ACS_CR
    ['uf', 0x0010], // PCI_ACS_UF
    ['ec', 0x0020], // PCI_ACS_EC
    ['dt', 0x0040], // PCI_ACS_DT
  ]
  const acs = (cap: number, ctrl: number) =>
    new Config().ext([PCI_EXT_CAP_ID_ACS, 0x100]).u16(0x104, cap).u16(0x106, ctrl).decode().acs

  for (const [field, bit] of bits) {
    it(`${field}: bit ${bit.toString(16)} of the capability and of the control register`, () => {
      assert.deepEqual(acs(bit, 0), {capabilities: {...NO_ACS, [field]: true}, control: NO_ACS})
      assert.deepEqual(acs(0, bit), {capabilities: NO_ACS, control: {...NO_ACS, [field]: true}})
    })
  }

  it('ignores the egress control vector size and reserved bits', () => {
    assert.deepEqual(acs(0xff80, 0xff80), {capabilities: NO_ACS, control: NO_ACS})
  })
})

describe('decodeConfigSpace: ATS (PCI_ATS_CAP 0x04, PCI_ATS_CTRL 0x06)', () => {
  const ats = (cap: number, ctrl: number) =>
    new Config().ext([PCI_EXT_CAP_ID_ATS, 0x100]).u16(0x104, cap).u16(0x106, ctrl).decode().ats
  const none = {
    enabled: false,
    invalidateQueueDepth: 32,
    pageAligned: false,
    globalInvalidate: false,
    smallestTranslationUnit: 4096,
  }

  it('reads a queue depth field of 0 as PCI_ATS_MAX_QDEP (32), as pci_ats_queue_depth does', () => {
    assert.deepEqual(ats(0, 0), none)
    assert.equal(ats(0x0001, 0)?.invalidateQueueDepth, 1)
    assert.equal(ats(0x001f, 0)?.invalidateQueueDepth, 31)
  })

  it('one bit, one field: page aligned 0x20, global invalidate 0x40, enable 0x8000', () => {
    assert.deepEqual(ats(0x0020, 0), {...none, pageAligned: true})
    assert.deepEqual(ats(0x0040, 0), {...none, globalInvalidate: true})
    assert.deepEqual(ats(0, 0x8000), {...none, enabled: true})
  })

  it('gives the smallest translation unit in bytes, 2^(PCI_ATS_MIN_STU 12 + STU)', () => {
    assert.equal(ats(0, 0x0001)?.smallestTranslationUnit, 8192)
    assert.equal(ats(0, 0x0009)?.smallestTranslationUnit, 2 * 1024 * 1024)
    assert.equal(ats(0, 0x001f)?.smallestTranslationUnit, 2 ** 43)
  })
})

describe('decodeConfigSpace: PRI (PCI_PRI_CTRL 0x04, _STATUS 0x06, _MAX_REQ 0x08, _ALLOC_REQ 0x0c)', () => {
  const pri = (ctrl: number, status: number, max: number, alloc: number) =>
    new Config()
      .ext([PCI_EXT_CAP_ID_PRI, 0x100])
      .u16(0x104, ctrl)
      .u16(0x106, status)
      .u32(0x108, max)
      .u32(0x10c, alloc)
      .decode().pri
  const none = {
    enabled: false,
    outstandingRequestCapacity: 0,
    outstandingRequestAllocation: 0,
    pasidRequired: false,
  }

  it('one bit, one field: PCI_PRI_CTRL_ENABLE 0x0001, PCI_PRI_STATUS_PASID 0x8000', () => {
    assert.deepEqual(pri(0, 0, 0, 0), none)
    assert.deepEqual(pri(0x0001, 0, 0, 0), {...none, enabled: true})
    assert.deepEqual(pri(0, 0x8000, 0, 0), {...none, pasidRequired: true})
    // Reset, response failure, unexpected index and stopped are not ours to report.
    assert.deepEqual(pri(0x0002, 0x0103, 0, 0), none)
  })

  it('reads the request counts as unsigned 32-bit numbers', () => {
    assert.deepEqual(pri(0, 0, 0xffffffff, 0x80000000), {
      ...none,
      outstandingRequestCapacity: 0xffffffff,
      outstandingRequestAllocation: 0x80000000,
    })
  })
})

describe('decodeConfigSpace: PASID (PCI_PASID_CAP 0x04, PCI_PASID_CTRL 0x06)', () => {
  const pasid = (cap: number, ctrl: number) =>
    new Config().ext([PCI_EXT_CAP_ID_PASID, 0x100]).u16(0x104, cap).u16(0x106, ctrl).decode().pasid
  const none = {
    enabled: false,
    width: 0,
    execute: false,
    privileged: false,
    executeEnabled: false,
    privilegedEnabled: false,
  }

  it('one bit, one field in each register', () => {
    assert.deepEqual(pasid(0, 0), none)
    assert.deepEqual(pasid(0x0002, 0), {...none, execute: true}) // PCI_PASID_CAP_EXEC
    assert.deepEqual(pasid(0x0004, 0), {...none, privileged: true}) // PCI_PASID_CAP_PRIV
    assert.deepEqual(pasid(0, 0x0001), {...none, enabled: true}) // PCI_PASID_CTRL_ENABLE
    assert.deepEqual(pasid(0, 0x0002), {...none, executeEnabled: true}) // PCI_PASID_CTRL_EXEC
    assert.deepEqual(pasid(0, 0x0004), {...none, privilegedEnabled: true}) // PCI_PASID_CTRL_PRIV
  })

  it('takes the width in bits from PCI_PASID_CAP_WIDTH (0x1f00), as pci_max_pasids does', () => {
    assert.equal(pasid(0x0100, 0)?.width, 1)
    assert.equal(pasid(0x1400, 0)?.width, 20)
    assert.equal(pasid(0x1f00, 0)?.width, 31)
    assert.equal(pasid(0xe001, 0)?.width, 0)
  })
})

describe('decodeConfigSpace: ARI (PCI_ARI_CAP 0x04, PCI_ARI_CTRL 0x06)', () => {
  const ari = (cap: number, ctrl: number) =>
    new Config().ext([PCI_EXT_CAP_ID_ARI, 0x100]).u16(0x104, cap).u16(0x106, ctrl).decode().ari
  const none = {
    nextFunction: 0,
    mfvcGroups: false,
    acsGroups: false,
    mfvcGroupsEnabled: false,
    acsGroupsEnabled: false,
    functionGroup: 0,
  }

  it('one bit, one field in each register', () => {
    assert.deepEqual(ari(0x0001, 0), {...none, mfvcGroups: true}) // PCI_ARI_CAP_MFVC
    assert.deepEqual(ari(0x0002, 0), {...none, acsGroups: true}) // PCI_ARI_CAP_ACS
    assert.deepEqual(ari(0, 0x0001), {...none, mfvcGroupsEnabled: true}) // PCI_ARI_CTRL_MFVC
    assert.deepEqual(ari(0, 0x0002), {...none, acsGroupsEnabled: true}) // PCI_ARI_CTRL_ACS
  })

  it('reads PCI_ARI_CAP_NFN from bits 15:8 and PCI_ARI_CTRL_FG from bits 6:4', () => {
    assert.equal(ari(0x0100, 0)?.nextFunction, 1)
    assert.equal(ari(0xff00, 0)?.nextFunction, 255)
    assert.equal(ari(0, 0x0010)?.functionGroup, 1)
    assert.equal(ari(0, 0x0070)?.functionGroup, 7)
    assert.equal(ari(0, 0xff8c)?.functionGroup, 0)
  })
})

describe('decodeConfigSpace: SR-IOV', () => {
  const sriov = (writes: [offset: number, value: number, size: 2 | 4][]) => {
    const c = new Config().ext([PCI_EXT_CAP_ID_SRIOV, 0x100])
    for (const [offset, value, size] of writes) {
      if (size === 2) c.u16(0x100 + offset, value)
      else c.u32(0x100 + offset, value)
    }
    return c.decode().sriov
  }
  const none = {
    totalVfs: 0,
    initialVfs: 0,
    numVfs: 0,
    vfOffset: 0,
    vfStride: 0,
    vfDeviceId: '0x0000',
    enabled: false,
    ariHierarchy: false,
    migrationCapable: false,
  }

  it('one bit, one field: PCI_SRIOV_CAP_VFM, PCI_SRIOV_CTRL_VFE, PCI_SRIOV_CTRL_ARI', () => {
    assert.deepEqual(sriov([]), none)
    assert.deepEqual(sriov([[0x04, 0x00000001, 4]]), {...none, migrationCapable: true})
    assert.deepEqual(sriov([[0x08, 0x0001, 2]]), {...none, enabled: true})
    assert.deepEqual(sriov([[0x08, 0x0010, 2]]), {...none, ariHierarchy: true})
    // Migration enable, its interrupt, and VF MSE are not reported.
    assert.deepEqual(sriov([[0x08, 0x000e, 2]]), none)
  })

  it('reads each count from its own register', () => {
    assert.deepEqual(
      sriov([
        [0x0c, 8, 2], // PCI_SRIOV_INITIAL_VF
        [0x0e, 64, 2], // PCI_SRIOV_TOTAL_VF
        [0x10, 7, 2], // PCI_SRIOV_NUM_VF
        [0x14, 0x180, 2], // PCI_SRIOV_VF_OFFSET
        [0x16, 2, 2], // PCI_SRIOV_VF_STRIDE
        [0x1a, 0x10ca, 2], // PCI_SRIOV_VF_DID
      ]),
      {...none, initialVfs: 8, totalVfs: 64, numVfs: 7, vfOffset: 0x180, vfStride: 2, vfDeviceId: '0x10ca'},
    )
  })
})

describe('decodeConfigSpace: capability lists', () => {
  it('lists standard capabilities in chain order, with names, as pci_find_capability walks them', () => {
    const c = new Config().caps([PCI_CAP_ID_EXP, 0x60], [PCI_CAP_ID_MSIX, 0x48], [0x42, 0x40]).decode()
    assert.deepEqual(c.capabilities, [
      {id: '0x10', name: 'PCI Express', offset: '0x60'},
      {id: '0x11', name: 'MSI-X', offset: '0x48'},
      {id: '0x42', name: null, offset: '0x40'},
    ])
  })

  it('aligns pointers down to 4 bytes, as the kernel does', () => {
    const config = new Config().caps([PCI_CAP_ID_PM, 0x40], [PCI_CAP_ID_MSI, 0x50])
    config.buf[PCI_CAPABILITY_LIST] = 0x43
    config.buf[0x41] = 0x52
    assert.deepEqual(
      config.decode().capabilities.map((e) => e.offset),
      ['0x40', '0x50'],
    )
  })

  it('has no list when PCI_STATUS_CAP_LIST is clear, whatever the pointer says', () => {
    const config = new Config().caps([PCI_CAP_ID_EXP, 0x40]).u16(PCI_STATUS, 0)
    assert.deepEqual(config.decode().capabilities, [])
    assert.equal(config.decode().express, null)
  })

  it('starts a CardBus bridge list at PCI_CB_CAPABILITY_LIST (0x14)', () => {
    const config = new Config(256, 2)
    config.buf[PCI_CB_CAPABILITY_LIST] = 0x80
    config.buf[0x80] = PCI_CAP_ID_PM
    assert.deepEqual(
      config.decode().capabilities.map((e) => e.offset),
      ['0x80'],
    )
  })

  it('ends the standard list at a pointer into the header or at id 0xff', () => {
    const intoHeader = new Config().caps([PCI_CAP_ID_PM, 0x40])
    intoHeader.buf[0x41] = 0x3c
    assert.equal(intoHeader.decode().capabilities.length, 1)
    const allOnes = new Config().caps([PCI_CAP_ID_PM, 0x40], [0xff, 0x50], [PCI_CAP_ID_MSI, 0x60])
    assert.deepEqual(
      allOnes.decode().capabilities.map((e) => e.id),
      ['0x01'],
    )
  })

  it('lists extended capabilities with versions, and decodes the first of two as the kernel does', () => {
    const c = new Config()
      .ext(
        [PCI_EXT_CAP_ID_ERR, 0x100, 2],
        [PCI_EXT_CAP_ID_ATS, 0x148],
        [0x7777, 0x200, 3],
        [PCI_EXT_CAP_ID_ATS, 0x300],
      )
      .u16(0x14c, 0x0004)
      .u16(0x304, 0x0009)
      .decode()
    assert.deepEqual(c.extendedCapabilities, [
      {id: '0x0001', name: 'Advanced Error Reporting', offset: '0x100', version: 2},
      {id: '0x000f', name: 'Address Translation Services', offset: '0x148', version: 1},
      {id: '0x7777', name: null, offset: '0x200', version: 3},
      {id: '0x000f', name: 'Address Translation Services', offset: '0x300', version: 1},
    ])
    assert.equal(c.ats?.invalidateQueueDepth, 4)
  })

  it('has no extended capabilities when the header at 0x100 is 0 or all ones', () => {
    assert.deepEqual(new Config().decode().extendedCapabilities, [])
    assert.deepEqual(new Config().u32(0x100, 0xffffffff).decode().extendedCapabilities, [])
  })

  it('ends the extended list at a pointer below 0x100', () => {
    const c = new Config()
      .ext([PCI_EXT_CAP_ID_ACS, 0x100])
      .u32(0x100, PCI_EXT_CAP_ID_ACS | (1 << 16) | (0x0fc << 20))
    assert.equal(c.decode().extendedCapabilities.length, 1)
  })
})

describe('decodeConfigSpace: truncated config space', () => {
  // A PCIe root port with every capability this decoder reads, then cut short.
  const full = () =>
    new Config(4096, 1)
      .caps([PCI_CAP_ID_EXP, 0x40])
      .u16(0x40 + PCI_EXP_FLAGS, 0x0142)
      .ext(
        [PCI_EXT_CAP_ID_ACS, 0x100],
        [PCI_EXT_CAP_ID_ATS, 0x110],
        [PCI_EXT_CAP_ID_PRI, 0x120],
        [PCI_EXT_CAP_ID_PASID, 0x130],
        [PCI_EXT_CAP_ID_ARI, 0x140],
        [PCI_EXT_CAP_ID_SRIOV, 0x150],
      )
  const EXTENDED = 'extended capabilities (ACS, ATS, PRI, PASID, ARI, SR-IOV)'

  it('decodes every capability when all 4096 bytes are there', () => {
    const c = full().decode()
    assert.equal(c.complete, true)
    assert.deepEqual(c.unreadable, [])
    for (const [key, value] of Object.entries(pickCaps(c))) assert.notEqual(value, null, key)
  })

  it('with the 64 bytes non-root gets: incomplete, both lists unreadable, every capability null', () => {
    const c = decodeConfigSpace(full().buf.subarray(0, 64))
    assert.deepEqual([c.length, c.complete, c.headerType], [64, false, 1])
    assert.deepEqual(c.unreadable, ['capability list', EXTENDED])
    assert.deepEqual(pickCaps(c), NO_CAPS)
    assert.deepEqual([c.capabilities, c.extendedCapabilities], [[], []])
  })

  it('with 64 bytes and no capability list there is nothing unreadable, but it is not complete', () => {
    const c = decodeConfigSpace(new Config().u16(PCI_STATUS, 0).buf.subarray(0, 64))
    assert.deepEqual([c.complete, c.unreadable], [false, []])
  })

  it('a PCIe device cut to 256 bytes keeps its standard capabilities and loses the extended ones', () => {
    const c = decodeConfigSpace(full().buf.subarray(0, 256))
    assert.equal(c.complete, false)
    assert.deepEqual(c.unreadable, [EXTENDED])
    assert.deepEqual(pickCaps(c), {
      ...NO_CAPS,
      express: {type: 'root-port', version: 2, slotImplemented: true},
    })
  })

  it('names a capability whose registers run past the end', () => {
    const c = decodeConfigSpace(full().buf.subarray(0, 0x156))
    assert.equal(c.complete, false)
    assert.deepEqual(c.unreadable, ['SR-IOV at 0x150'])
    assert.equal(c.sriov, null)
    assert.notEqual(c.ari, null)
    const cut = decodeConfigSpace(full().buf.subarray(0, 0x118))
    assert.deepEqual(cut.unreadable, [EXTENDED])
    assert.deepEqual(
      cut.extendedCapabilities.map((e) => e.offset),
      ['0x100', '0x110'],
    )
    assert.notEqual(cut.acs, null)
    const mid = decodeConfigSpace(full().buf.subarray(0, 0x42))
    assert.deepEqual(mid.unreadable, ['PCI Express at 0x40', EXTENDED])
  })
})

describe('decodeConfigSpace: hostile capability lists terminate', () => {
  it('a standard capability pointing to itself is listed once', () => {
    const c = new Config().caps([PCI_CAP_ID_PM, 0x40])
    c.buf[0x41] = 0x40
    assert.deepEqual(
      c.decode().capabilities.map((e) => e.offset),
      ['0x40'],
    )
  })

  it('a standard cycle through several capabilities is listed once round', () => {
    const c = new Config().caps([PCI_CAP_ID_PM, 0x40], [PCI_CAP_ID_MSI, 0x80], [PCI_CAP_ID_EXP, 0xfc])
    c.buf[0xfd] = 0x41
    assert.deepEqual(
      c.decode().capabilities.map((e) => e.offset),
      ['0x40', '0x80', '0xfc'],
    )
  })

  it('a standard pointer past the end of a short buffer marks the list unreadable', () => {
    const c = new Config().caps([PCI_CAP_ID_PM, 0x40], [PCI_CAP_ID_EXP, 0xf0])
    const short = decodeConfigSpace(c.buf.subarray(0, 0x80))
    assert.deepEqual(
      short.capabilities.map((e) => e.offset),
      ['0x40'],
    )
    assert.deepEqual(short.unreadable, [
      'capability list',
      'extended capabilities (ACS, ATS, PRI, PASID, ARI, SR-IOV)',
    ])
  })

  it('an extended capability pointing to itself, or a cycle, is listed once', () => {
    const self = new Config().u32(0x100, PCI_EXT_CAP_ID_ACS | (1 << 16) | (0x100 << 20))
    assert.equal(self.decode().extendedCapabilities.length, 1)
    const cycle = new Config().ext(
      [PCI_EXT_CAP_ID_ERR, 0x100],
      [PCI_EXT_CAP_ID_ACS, 0x200],
      [PCI_EXT_CAP_ID_ATS, 0xffc],
    )
    cycle.u32(0xffc, PCI_EXT_CAP_ID_ATS | (1 << 16) | (0x200 << 20))
    const c = cycle.decode()
    assert.deepEqual(
      c.extendedCapabilities.map((e) => e.offset),
      ['0x100', '0x200', '0xffc'],
    )
    // ATS at 0xffc has no room for its registers inside config space.
    assert.deepEqual([c.ats, c.unreadable, c.complete], [null, ['ATS at 0xffc'], false])
  })

  it('random bytes of every length decode without throwing, within the kernel bounds', () => {
    let seed = 0x2545f491
    const random = () => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) / 2 ** 32
    }
    for (let i = 0; i < 2000; i++) {
      const length = 64 + Math.floor(random() * (4096 - 64 + 1))
      const buf = Buffer.alloc(length)
      for (let j = 0; j < length; j++) buf[j] = Math.floor(random() * 256)
      // Make the lists likely to be long and looping rather than ending at once.
      buf[PCI_STATUS] = buf[PCI_STATUS]! | PCI_STATUS_CAP_LIST
      buf[PCI_HEADER_TYPE] = buf[PCI_HEADER_TYPE]! & 0x81
      const c = decodeConfigSpace(buf)
      assert.ok(c.capabilities.length <= 48, 'PCI_FIND_CAP_TTL')
      assert.ok(c.extendedCapabilities.length <= (4096 - 256) / 8, 'extended TTL')
      assert.equal(new Set(c.capabilities.map((e) => e.offset)).size, c.capabilities.length)
      assert.equal(new Set(c.extendedCapabilities.map((e) => e.offset)).size, c.extendedCapabilities.length)
      assert.equal(c.complete, length >= 256 && c.unreadable.length === 0)
    }
  })
})
