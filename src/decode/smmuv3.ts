// Decodes an Arm SMMUv3's ID registers as IOMMU_GET_HW_INFO returns them for a device behind it
// (struct iommu_hw_info_arm_smmuv3: IDR0-IDR5, IIDR, AIDR, the raw hardware values), by the
// field names of drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (IDR0_*, IDR1_*, IDR3_*, IDR5_*,
// IIDR_*), which arm_smmu_device_hw_probe() reads to drive the unit. Fields that header does not
// name come from the register descriptions of Arm's SMMUv3 architecture specification (IHI 0070)
// and their comments say "spec". The uAPI warns that these are the hardware's values: a bit may
// be set for a feature the kernel does not drive (BTM, say), so `features` says what the kernel
// makes of them, as arm_smmu_device_hw_probe() does.

import {bit, field} from './register.js'
import type {UnitFeatures} from './unit-features.js'

/** SMMU_IDR0: what the SMMU implements. */
export interface SmmuV3Idr0 {
  /** Stage-2 translation (S2P, 0). */
  s2p: boolean
  /** Stage-1 translation (S1P, 1). */
  s1p: boolean
  /** Translation table formats (TTF, 3:2): AArch32 (LPAE), AArch64, or both. */
  ttf: string[]
  /** Coherent access to tables, queues and MSIs (COHACC, 4). */
  cohacc: boolean
  /** Broadcast TLB maintenance (BTM, 5). */
  btm: boolean
  /** Hardware translation-table update (HTTU, 7:6): none, access flag, access flag and dirty state. */
  httu: 'none' | 'access' | 'access+dirty' | 'reserved'
  /** Dormant hint (spec: DORMHINT, 8). */
  dormhint: boolean
  /** Hypervisor stage 1 (HYP, 9). */
  hyp: boolean
  /** PCIe ATS (ATS, 10). */
  ats: boolean
  /** ASID bits (ASID16, 12): 16, else 8. */
  asidBits: 8 | 16
  /** MSI interrupts (MSI, 13). */
  msi: boolean
  /** Send-event on queue updates (SEV, 14). */
  sev: boolean
  /** Address translation operations (spec: ATOS, 15). */
  atos: boolean
  /** PCIe PRI, page requests (PRI, 16). */
  pri: boolean
  /** VMID wildcard matching (spec: VMW, 17). */
  vmw: boolean
  /** VMID bits (VMID16, 18): 16, else 8. */
  vmidBits: 8 | 16
  /** Two-level context-descriptor tables (CD2L, 19). */
  cd2l: boolean
  /** Virtual ATOS page (spec: VATOS, 20). */
  vatos: boolean
  /** Table endianness (TTENDIAN, 22:21). */
  ttendian: 'mixed' | 'little' | 'big' | 'reserved'
  /** Stall model (STALL_MODEL, 25:24). */
  stallModel: 'stall and terminate' | 'terminate only' | 'stall forced' | 'reserved'
  /** Terminate model (spec: TERM_MODEL, 26): a terminated transaction is aborted, never RAZ/WI. */
  termModelAbortOnly: boolean
  /** Stream table levels (ST_LVL, 28:27): linear or two-level. */
  streamTable: 'linear' | 'two-level' | 'reserved'
}

/** SMMU_IDR1: table and queue sizes. */
export interface SmmuV3Idr1 {
  /** Stream ID bits (SIDSIZE, 5:0). */
  sidBits: number
  /** Substream ID (PASID) bits (SSIDSIZE, 10:6); 0 means no substreams. */
  ssidBits: number
  /** Log2 of the PRI queue's most entries (PRIQS, 15:11). */
  priqLog2: number
  /** Log2 of the event queue's most entries (EVTQS, 20:16). */
  evtqLog2: number
  /** Log2 of the command queue's most entries (CMDQS, 25:21). */
  cmdqLog2: number
  /** Attribute types override (ATTR_TYPES_OVR, 27). */
  attrTypesOvr: boolean
  /** Base addresses are relative to the SMMU (REL, 28). */
  rel: boolean
  /** Queue bases and sizes are fixed (QUEUES_PRESET, 29). */
  queuesPreset: boolean
  /** Stream table base and size are fixed (TABLES_PRESET, 30). */
  tablesPreset: boolean
}

/** SMMU_IDR3: optional features of SMMUv3.1 and later. */
export interface SmmuV3Idr3 {
  /** Stage-2 forced write-back (FWB, 8). */
  fwb: boolean
  /** Small translation tables (spec: STT, 9). */
  stt: boolean
  /** Range invalidation (RIL, 10). */
  ril: boolean
  /** Break-before-make level (BBM, 12:11). */
  bbml: number
}

/** SMMU_IDR5: page sizes and address sizes. */
export interface SmmuV3Idr5 {
  /** Output address size in bits (OAS, 2:0); null for a reserved encoding. */
  oasBits: number | null
  /** Translation granules (GRAN4K 4, GRAN16K 5, GRAN64K 6). */
  granules: string[]
  /** Virtual address bits (VAX, 11:10): 48, or 52 with VAX_52_BIT; null when reserved. */
  vaBits: number | null
  /** Most stalled transactions the SMMU holds at once (STALL_MAX, 31:16). */
  stallMax: number
}

/** SMMU_IIDR: who made the SMMU. */
export interface SmmuV3Iidr {
  /** JEP106 code (IMPLEMENTER, 11:0): continuation count in 11:8, identity in 6:0. */
  implementer: number
  /** The implementer's name for the codes arm-smmu-v3.c knows; null otherwise. */
  implementerName: string | null
  /** PRODUCTID (31:20). */
  productId: number
  /** The product's name for the ids arm-smmu-v3.c knows (its errata list); null otherwise. */
  productName: string | null
  /** VARIANT (19:16), the major revision: the "r" of rNpM. */
  variant: number
  /** REVISION (15:12), the minor revision: the "p" of rNpM. */
  revision: number
}

/** The ID registers of an SMMUv3, decoded. */
export interface SmmuV3Decoded {
  idr0: SmmuV3Idr0
  idr1: SmmuV3Idr1
  idr3: SmmuV3Idr3
  idr5: SmmuV3Idr5
  /** SMMU_IIDR decoded. */
  implementation: SmmuV3Iidr
  /** The architecture version from SMMU_AIDR (ArchMajorRev 7:4, ArchMinorRev 3:0): "3.0" to "3.3". */
  version: string
  /** One human line, as `hw-info` and `units show` print it for VT-d. */
  summary: string
}

const TTF: Record<number, string[]> = {0: [], 1: ['AArch32'], 2: ['AArch64'], 3: ['AArch32', 'AArch64']}
const HTTU = ['none', 'access', 'access+dirty', 'reserved'] as const
const TTENDIAN = ['mixed', 'reserved', 'little', 'big'] as const
const STALL = ['stall and terminate', 'terminate only', 'stall forced', 'reserved'] as const
const ST_LVL = ['linear', 'two-level', 'reserved', 'reserved'] as const
/** IDR5_OAS_32_BIT .. IDR5_OAS_52_BIT. */
const OAS = [32, 36, 40, 42, 44, 48, 52]
/** IIDR_IMPLEMENTER_ARM and the IIDR_PRODUCTID_ARM_* of arm-smmu-v3.c's errata handling. */
const IMPLEMENTERS: Record<number, string> = {0x43b: 'Arm'}
const ARM_PRODUCTS: Record<number, string> = {0x483: 'MMU-600', 0x487: 'MMU-700'}

export function decodeSmmuV3Idr0(r: number): SmmuV3Idr0 {
  const v = BigInt(r >>> 0)
  return {
    s2p: bit(v, 0),
    s1p: bit(v, 1),
    ttf: TTF[field(v, 2, 2)]!,
    cohacc: bit(v, 4),
    btm: bit(v, 5),
    httu: HTTU[field(v, 6, 2)]!,
    dormhint: bit(v, 8),
    hyp: bit(v, 9),
    ats: bit(v, 10),
    asidBits: bit(v, 12) ? 16 : 8,
    msi: bit(v, 13),
    sev: bit(v, 14),
    atos: bit(v, 15),
    pri: bit(v, 16),
    vmw: bit(v, 17),
    vmidBits: bit(v, 18) ? 16 : 8,
    cd2l: bit(v, 19),
    vatos: bit(v, 20),
    ttendian: TTENDIAN[field(v, 21, 2)]!,
    stallModel: STALL[field(v, 24, 2)]!,
    termModelAbortOnly: bit(v, 26),
    streamTable: ST_LVL[field(v, 27, 2)]!,
  }
}

export function decodeSmmuV3Idr1(r: number): SmmuV3Idr1 {
  const v = BigInt(r >>> 0)
  return {
    sidBits: field(v, 0, 6),
    ssidBits: field(v, 6, 5),
    priqLog2: field(v, 11, 5),
    evtqLog2: field(v, 16, 5),
    cmdqLog2: field(v, 21, 5),
    attrTypesOvr: bit(v, 27),
    rel: bit(v, 28),
    queuesPreset: bit(v, 29),
    tablesPreset: bit(v, 30),
  }
}

export function decodeSmmuV3Idr3(r: number): SmmuV3Idr3 {
  const v = BigInt(r >>> 0)
  return {fwb: bit(v, 8), stt: bit(v, 9), ril: bit(v, 10), bbml: field(v, 11, 2)}
}

export function decodeSmmuV3Idr5(r: number): SmmuV3Idr5 {
  const v = BigInt(r >>> 0)
  const vax = field(v, 10, 2)
  return {
    oasBits: OAS[field(v, 0, 3)] ?? null,
    granules: (['4K', '16K', '64K'] as const).filter((_, n) => bit(v, 4 + n)),
    vaBits: vax === 0 ? 48 : vax === 1 ? 52 : null,
    stallMax: field(v, 16, 16),
  }
}

export function decodeSmmuV3Iidr(r: number): SmmuV3Iidr {
  const v = BigInt(r >>> 0)
  const implementer = field(v, 0, 12)
  const productId = field(v, 20, 12)
  return {
    implementer,
    implementerName: IMPLEMENTERS[implementer] ?? null,
    productId,
    productName: implementer === 0x43b ? (ARM_PRODUCTS[productId] ?? null) : null,
    variant: field(v, 16, 4),
    revision: field(v, 12, 4),
  }
}

/**
 * IDR0-IDR5 (six words, as struct iommu_hw_info_arm_smmuv3 carries them; IDR2 and IDR4 are
 * reserved and not decoded), IIDR and AIDR.
 */
export function decodeSmmuV3(idr: readonly number[], iidr: number, aidr: number): SmmuV3Decoded {
  const d = {
    idr0: decodeSmmuV3Idr0(idr[0] ?? 0),
    idr1: decodeSmmuV3Idr1(idr[1] ?? 0),
    idr3: decodeSmmuV3Idr3(idr[3] ?? 0),
    idr5: decodeSmmuV3Idr5(idr[5] ?? 0),
    implementation: decodeSmmuV3Iidr(iidr),
    // ArchMajorRev 0 is SMMUv3; ArchMinorRev is the .x of SMMUv3.x.
    version: `${3 + ((aidr >>> 4) & 0xf)}.${aidr & 0xf}`,
  }
  return {...d, summary: smmuV3Summary(d)}
}

/**
 * What the kernel drives, as arm_smmu_device_hw_probe() sets its features: substreams (PASIDs)
 * when SSIDSIZE is not 0, nesting (ARM_SMMU_FEAT_NESTING) with both stages, less what
 * arm_smmu_device_iidr_probe() takes away for errata (MMU-600 before r2: erratum 1209401;
 * MMU-700: errata 2268618 and 2812531), dirty tracking (ARM_SMMU_FEAT_HD, used by
 * arm_smmu_dbm_capable) with HTTU access+dirty on a coherent SMMU. Interrupt isolation on Arm is
 * the GIC ITS's, not the SMMU's: null here.
 */
export function smmuV3Features(d: Pick<SmmuV3Decoded, 'idr0' | 'idr1' | 'implementation'>): UnitFeatures {
  const {implementerName, productName, variant} = d.implementation
  const nestingErratum =
    implementerName === 'Arm' && (productName === 'MMU-700' || (productName === 'MMU-600' && variant < 2))
  return {
    scalableMode: null,
    pasid: d.idr1.ssidBits > 0,
    nesting: d.idr0.s1p && d.idr0.s2p && !nestingErratum,
    dirtyTracking: d.idr0.httu === 'access+dirty' && d.idr0.cohacc,
    interruptRemapping: null,
  }
}

/** One human line: version and maker first, then what a user picks an SMMU for. */
export function smmuV3Summary(d: Omit<SmmuV3Decoded, 'summary'>): string {
  const {idr0, idr1, idr3, idr5, implementation: iidr} = d
  const maker = [iidr.implementerName, iidr.productName].filter(Boolean).join(' ')
  const parts = [`SMMUv${d.version}${maker ? ` (${maker} r${iidr.variant}p${iidr.revision})` : ''}`]
  const stages = [idr0.s1p && 'stage 1', idr0.s2p && 'stage 2'].filter(Boolean)
  parts.push(stages.length ? stages.join(' + ') : 'no translation stage')
  if (idr0.ttf.length) parts.push(`${idr0.ttf.join('/')} tables`)
  if (idr5.granules.length) parts.push(`${idr5.granules.join('+')} granules`)
  if (idr5.oasBits !== null) parts.push(`${idr5.oasBits}-bit output`)
  parts.push(`${idr1.sidBits}-bit StreamID`)
  if (idr1.ssidBits) parts.push(`${idr1.ssidBits}-bit SubstreamID`)
  if (idr0.ats) parts.push('ATS')
  if (idr0.pri) parts.push('PRI')
  if (idr0.httu !== 'none') parts.push(`HTTU ${idr0.httu}`)
  if (idr0.stallModel === 'stall and terminate') parts.push('stall')
  if (idr0.stallModel === 'stall forced') parts.push('stall forced')
  if (idr0.btm) parts.push('BTM')
  if (idr3.ril) parts.push('range invalidation')
  if (idr0.msi) parts.push('MSI')
  if (!idr0.cohacc) parts.push('not coherent')
  return parts.join(', ')
}
