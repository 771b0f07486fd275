// Decodes Intel VT-d unit registers as drivers/iommu/intel/iommu.h reads them (cap_*, ecap_*,
// DMAR_VER_*), from the text drivers/iommu/intel/iommu.c prints under
// /sys/class/iommu/dmarN/intel-iommu/. Every field has a macro there, so bit positions and
// offsets are the kernel's: where it and the VT-d spec disagree, the kernel decides how the unit
// is driven.

import {Hex} from '../records.js'
import {bit, field, parseRegister, registerHex} from './register.js'
import type {UnitFeatures} from './unit-features.js'
/** The Capability Register (VT-d spec 11.4.2), one field per VT-d mnemonic. */
export interface VtdCap {
  /** Number of domains the unit supports, as cap_ndoms computes it from ND (2:0). */
  nd: number
  /** Advanced fault logging (3). */
  afl: boolean
  /** Required write-buffer flushing (4). */
  rwbf: boolean
  /** Protected low-memory region (5). */
  plmr: boolean
  /** Protected high-memory region (6). */
  phmr: boolean
  /** Caching mode (7): not-present entries may be cached, as emulated IOMMUs do. */
  cm: boolean
  /** Second-level page-table depths supported, in levels, from SAGAW (12:8). */
  sagaw: number[]
  /** Maximum guest address width in bits (21:16, plus one). */
  mgaw: number
  /** Zero-length read (22). */
  zlr: boolean
  /** Byte offset of the fault recording registers (33:24, times 16). */
  fro: number
  /** Second-level superpage sizes, from SLLPS (37:34). */
  sllps: string[]
  /** Page-selective invalidation (39). */
  psi: boolean
  /** Number of fault recording registers (47:40, plus one). */
  nfr: number
  /** Maximum address-mask value for page-selective invalidation (53:48). */
  mamv: number
  /** Write draining (54). */
  dwd: boolean
  /** Read draining (55). */
  drd: boolean
  /** First-level 1-GByte pages (56). */
  fl1gp: boolean
  /** Posted interrupts (59). */
  pi: boolean
  /** First-level 5-level paging (60). */
  fl5lp: boolean
  /** Enhanced command support (61). */
  ecmds: boolean
  /** Enhanced set-interrupt-remap-table-pointer support (62). */
  esirtps: boolean
  /** Enhanced set-root-table-pointer support (63). */
  esrtps: boolean
}

/** The Extended Capability Register (VT-d spec 11.4.3), one field per VT-d mnemonic. */
export interface VtdEcap {
  /** Page-walk coherency (0). */
  c: boolean
  /** Queued invalidation (1). */
  qi: boolean
  /** Device-TLB, i.e. ATS (2). */
  dt: boolean
  /** Interrupt remapping (3). */
  ir: boolean
  /** Extended interrupt mode, i.e. x2APIC (4). */
  eim: boolean
  /** Pass-through (6). */
  pt: boolean
  /** Snoop control (7). */
  sc: boolean
  /** Byte offset of the IOTLB registers (17:8, times 16). */
  iro: number
  /** Maximum handle-mask value for interrupt-entry-cache invalidation (23:20). */
  mhmv: number
  /** Memory type (25). */
  mts: boolean
  /** Nested translation (26). */
  nest: boolean
  /** Bit 27, which the kernel reads as ecap_dis; VT-d 3.0 and later reserve it. */
  dis: boolean
  /** Page requests (29). */
  prs: boolean
  /** Execute requests (30). */
  ers: boolean
  /** Supervisor requests (31). */
  srs: boolean
  /** No write flag (33). */
  nwfs: boolean
  /** Extended accessed flag (34). */
  eafs: boolean
  /** PASID width in bits (39:35, plus one: the kernel allows 2 << PSS PASIDs). */
  pss: number
  /** PASID (40). */
  pasid: boolean
  /** Device-TLB invalidation throttling (41). */
  dit: boolean
  /** Page-request drain (42). */
  pds: boolean
  /** Scalable-mode translation (43). */
  smts: boolean
  /** Second-level accessed/dirty (45). */
  slads: boolean
  /** Second-level translation in scalable mode (46). */
  slts: boolean
  /** First-level translation in scalable mode (47). */
  flts: boolean
  /** Scalable-mode page-walk coherency (48). */
  smpwc: boolean
  /** RID-PASID (49). */
  rps: boolean
  /** Performance monitoring (51). */
  pms: boolean
}

/** A VT-d unit's registers: as sysfs shows them, decoded, and in one line. */
export interface VtdRegisters {
  /** "major:minor", as the kernel prints the Version Register. */
  version: string | null
  /** Physical base address of the register set, "0x...". */
  address: Hex | null
  /** Capability Register, "0x..." lowercase, unpadded. */
  cap: Hex | null
  /** Extended Capability Register, "0x..." lowercase, unpadded. */
  ecap: Hex | null
  capFields: VtdCap | null
  ecapFields: VtdEcap | null
  summary: string
}

/** The Global Status Register (VT-d spec 11.4.5; iommu.h DMA_GSTS_*): what the unit is doing now. */
export interface VtdGsts {
  /** Translation enable status (31): DMA remapping is on. */
  tes: boolean
  /** Root table pointer status (30). */
  rtps: boolean
  /** Fault log status (29). */
  fls: boolean
  /** Advanced fault logging status (28). */
  afls: boolean
  /** Write buffer flush status (27). */
  wbfs: boolean
  /** Queued invalidation enable status (26). */
  qies: boolean
  /** Interrupt remapping enable status (25). */
  ires: boolean
  /** Interrupt remapping table pointer status (24). */
  irtps: boolean
  /** Compatibility format interrupt status (23): interrupts that bypass remapping are let through. */
  cfis: boolean
}

/** The Fault Status Register (VT-d spec 11.4.9.1; iommu.h DMA_FSTS_*). */
export interface VtdFsts {
  /** Primary fault overflow (0). */
  pfo: boolean
  /** Primary pending fault (1): a fault is recorded and not yet cleared. */
  ppf: boolean
  /** Invalidation queue error (4). */
  iqe: boolean
  /** Invalidation completion error (5). */
  ice: boolean
  /** Invalidation time-out error (6). */
  ite: boolean
  /** Page request overflow (7). */
  pro: boolean
  /** Fault record index (15:8): where the first pending fault is. */
  fri: number
}

export function decodeVtdGsts(gsts: bigint): VtdGsts {
  return {
    tes: bit(gsts, 31),
    rtps: bit(gsts, 30),
    fls: bit(gsts, 29),
    afls: bit(gsts, 28),
    wbfs: bit(gsts, 27),
    qies: bit(gsts, 26),
    ires: bit(gsts, 25),
    irtps: bit(gsts, 24),
    cfis: bit(gsts, 23),
  }
}

export function decodeVtdFsts(fsts: bigint): VtdFsts {
  return {
    pfo: bit(fsts, 0),
    ppf: bit(fsts, 1),
    iqe: bit(fsts, 4),
    ice: bit(fsts, 5),
    ite: bit(fsts, 6),
    pro: bit(fsts, 7),
    fri: field(fsts, 8, 8),
  }
}

/** The bits set in a small field, lowest first. */
function setBits(value: number): number[] {
  const bits: number[] = []
  for (let n = 0; value >> n; n++) if ((value >> n) & 1) bits.push(n)
  return bits
}

// SLLPS bit n maps 2^(21+9n)-byte pages. The kernel acts on 2M and 1G only; VT-d 3.0 and
// later reserve the 512G and 1T bits, but a unit that sets them still says so.
const SUPERPAGES = ['2M', '1G', '512G', '1T']

export function decodeVtdCap(cap: bigint): VtdCap {
  return {
    nd: 2 ** (4 + 2 * field(cap, 0, 3)),
    afl: bit(cap, 3),
    rwbf: bit(cap, 4),
    plmr: bit(cap, 5),
    phmr: bit(cap, 6),
    cm: bit(cap, 7),
    // SAGAW bit n is an AGAW, and agaw_to_level() makes that n + 2 levels.
    sagaw: setBits(field(cap, 8, 5)).map((n) => n + 2),
    mgaw: field(cap, 16, 6) + 1,
    zlr: bit(cap, 22),
    fro: field(cap, 24, 10) * 16,
    sllps: SUPERPAGES.filter((_, n) => bit(cap, 34 + n)),
    psi: bit(cap, 39),
    nfr: field(cap, 40, 8) + 1,
    mamv: field(cap, 48, 6),
    dwd: bit(cap, 54),
    drd: bit(cap, 55),
    fl1gp: bit(cap, 56),
    pi: bit(cap, 59),
    fl5lp: bit(cap, 60),
    ecmds: bit(cap, 61),
    esirtps: bit(cap, 62),
    esrtps: bit(cap, 63),
  }
}

export function decodeVtdEcap(ecap: bigint): VtdEcap {
  return {
    c: bit(ecap, 0),
    qi: bit(ecap, 1),
    dt: bit(ecap, 2),
    ir: bit(ecap, 3),
    eim: bit(ecap, 4),
    pt: bit(ecap, 6),
    sc: bit(ecap, 7),
    iro: field(ecap, 8, 10) * 16,
    mhmv: field(ecap, 20, 4),
    mts: bit(ecap, 25),
    nest: bit(ecap, 26),
    dis: bit(ecap, 27),
    prs: bit(ecap, 29),
    ers: bit(ecap, 30),
    srs: bit(ecap, 31),
    nwfs: bit(ecap, 33),
    eafs: bit(ecap, 34),
    pss: field(ecap, 35, 5) + 1,
    pasid: bit(ecap, 40),
    dit: bit(ecap, 41),
    pds: bit(ecap, 42),
    smts: bit(ecap, 43),
    slads: bit(ecap, 45),
    slts: bit(ecap, 46),
    flts: bit(ecap, 47),
    smpwc: bit(ecap, 48),
    rps: bit(ecap, 49),
    pms: bit(ecap, 51),
  }
}

/**
 * What the kernel drives of a unit: PASIDs and nesting only in scalable mode (pasid_supported,
 * nested_supported in drivers/iommu/intel/iommu.h), dirty tracking only with coherent
 * scalable-mode walks (ssads_supported).
 */
export function vtdFeatures(ecap: VtdEcap): UnitFeatures {
  return {
    scalableMode: ecap.smts,
    pasid: ecap.smts && ecap.pasid,
    nesting: ecap.smts && ecap.nest,
    dirtyTracking: ecap.smts && ecap.slads && ecap.smpwc,
    interruptRemapping: ecap.ir,
  }
}

/** One human line: translation mode first, then what a user chooses a unit for. */
export function vtdSummary(cap: VtdCap, ecap: VtdEcap): string {
  const uses = vtdFeatures(ecap)
  const parts = [ecap.smts ? 'scalable mode' : 'legacy mode']
  if (uses.pasid) parts.push(`${ecap.pss}-bit PASID`)
  if (uses.nesting) parts.push('nested')
  // Legacy mode always translates second-level; scalable mode says which levels it has.
  if (ecap.smts) {
    const levels = [ecap.flts && 'first-level', ecap.slts && 'second-level'].filter(Boolean)
    if (levels.length) parts.push(`${levels.join(' + ')} translation`)
  }
  if (cap.sagaw.length) parts.push(`${cap.sagaw.join('/')}-level tables`)
  if (cap.sllps.length) parts.push(`${cap.sllps.join('+')} pages`)
  if (ecap.pt) parts.push('pass-through')
  if (ecap.dt) parts.push('device-TLB')
  if (ecap.prs) parts.push('page requests')
  if (uses.dirtyTracking) parts.push('dirty tracking')
  if (ecap.ir) parts.push(ecap.eim ? 'IR with x2APIC' : 'IR')
  if (cap.pi) parts.push('posted interrupts')
  if (cap.cm) parts.push('caching mode')
  return parts.join(', ')
}

export function parseVtdRegisters(files: {
  version: string | null
  address: Hex | null
  cap: Hex | null
  ecap: Hex | null
}): VtdRegisters {
  const version = files.version?.trim() ?? null
  const cap = parseRegister(files.cap, 64n)
  const ecap = parseRegister(files.ecap, 64n)
  const capFields = cap === null ? null : decodeVtdCap(cap)
  const ecapFields = ecap === null ? null : decodeVtdEcap(ecap)
  return {
    version: version && /^\d+:\d+$/.test(version) ? version : null,
    address: registerHex(parseRegister(files.address, 64n)),
    cap: registerHex(cap),
    ecap: registerHex(ecap),
    capFields,
    ecapFields,
    summary:
      capFields && ecapFields
        ? vtdSummary(capFields, ecapFields)
        : 'capabilities unknown: cap or ecap unreadable',
  }
}
