// Decodes the IOMMU fault and event lines of the kernel log, in every form kernels printed them,
// with the kernel's own reason tables:
// - Intel VT-d: drivers/iommu/intel/dmar.c (dmar_fault_do_one, dma_remap_fault_reasons,
//   dma_remap_sm_fault_reasons, irq_remap_fault_reasons, dmar_get_fault_reason) and the
//   DMA_FSTS_* bits of drivers/iommu/intel/iommu.h;
// - AMD-Vi: drivers/iommu/amd/iommu.c (iommu_print_event, amd_iommu_report_page_fault,
//   amd_iommu_report_rmp_fault) and the EVENT_* definitions of amd_iommu_types.h;
// - Arm SMMUv3: drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.{c,h} (arm_smmu_evtq_thread, EVTQ_*,
//   EVT_ID_*, event_str); SMMUv2: drivers/iommu/arm/arm-smmu/arm-smmu.{c,h} (the context fault
//   handler and ARM_SMMU_CB_FSR_*, ARM_SMMU_CB_FSYNR0_WNR).
// - virtio-iommu: drivers/iommu/virtio-iommu.c (viommu_fault_handler).
// Pure: text in, records out. A line that names an IOMMU event but does not parse is kept as
// raw text (kind 'unparsed'); no field is ever guessed.

import {bdf, Bdf, hex, Hex, ridBdf} from '../records.js'

export type FaultVendor = 'intel-vtd' | 'amd-vi' | 'arm-smmu-v3' | 'arm-smmu' | 'virtio-iommu'

/**
 * dma: a DMA request the IOMMU refused; interrupt: an interrupt-remapping fault; event: another
 * event the IOMMU logged (AMD-Vi, SMMUv3 configuration errors); fault-status: VT-d's "handling
 * fault status reg"; suppressed: a ratelimit's "callbacks suppressed"; unparsed: a line that names
 * an IOMMU event in a form this decoder does not know, kept as it is.
 */
export type FaultKind = 'dma' | 'interrupt' | 'event' | 'fault-status' | 'suppressed' | 'unparsed'

export interface FaultReason {
  /** The code the hardware reported: VT-d fault reason, AMD-Vi event type, SMMUv3 event id. */
  code: Hex | null
  /** The kernel's name or text for it (the table it comes from is named in `table`). */
  name: string
  /** Which kernel table the name comes from. */
  table: string
}

export interface DecodedFault {
  vendor: FaultVendor | null
  kind: FaultKind
  /** The requester as the line prints it ("05:00.0", "0x04:0x00.0", "0000:01:00.0"). */
  requester: string | null
  /**
   * The requester as a BDF. VT-d lines print no PCI segment: segment 0000 is assumed and
   * `segmentAssumed` says so.
   */
  bdf: Bdf | null
  segmentAssumed: boolean
  /** The reporting unit where the line names one ("ivhd0", "arm-smmu-v3.2.auto", "NAME.iommu"). */
  unit: string | null
  /** The driver named in the line's device prefix ("nvme" in "nvme 0000:01:00.0: AMD-Vi: ..."). */
  driver: string | null
  reason: FaultReason | null
  /** The reason text the line itself printed, when it printed one. */
  printedReason: string | null
  /** The faulting address (IOVA, or the guest physical address of an RMP fault). */
  address: Hex | null
  /** Interrupt-remapping table index (VT-d INTR-REMAP). */
  index: Hex | null
  pasid: Hex | null
  access: 'read' | 'write' | null
  /** AMD-Vi domain id. */
  domain: Hex | null
  /** SMMU stream id. */
  streamId: Hex | null
  /** A status or flags word and the named bits set in it. */
  flags: {raw: Hex; set: string[]} | null
  /** For kind 'suppressed': how many messages the ratelimit dropped, and the function it names. */
  suppressed: {count: number; function: string} | null
  /** The message, without the log's time and host prefix. */
  text: string
}

/** A number printed in hex, with or without 0x, normalised to "0x..." lowercase. */
const hexText = (s: string): Hex => hex(BigInt(s.toLowerCase().startsWith('0x') ? s : `0x${s}`))

// ---------------------------------------------------------------------------------------------
// Intel VT-d (drivers/iommu/intel/dmar.c)

/** dma_remap_fault_reasons[], indexed by fault reason 0x00-0x0d. */
const VTD_DMA_REASONS = [
  'Software',
  'Present bit in root entry is clear',
  'Present bit in context entry is clear',
  'Invalid context entry',
  'Access beyond MGAW',
  'PTE Write access is not set',
  'PTE Read access is not set',
  'Next page table ptr is invalid',
  'Root table address invalid',
  'Context table ptr is invalid',
  'non-zero reserved fields in RTP',
  'non-zero reserved fields in CTP',
  'non-zero reserved fields in PTE',
  'PCE for translation request specifies blocking',
]

/** irq_remap_fault_reasons[], from fault reason 0x20. */
const VTD_IRQ_REASONS = [
  'Detected reserved fields in the decoded interrupt-remapped request',
  'Interrupt index exceeded the interrupt-remapping table size',
  'Present field in the IRTE entry is clear',
  'Error accessing interrupt-remapping table pointed by IRTA_REG',
  'Detected reserved fields in the IRTE entry',
  'Blocked a compatibility format interrupt request',
  'Blocked an interrupt request due to source-id verification failure',
]

/** dma_remap_sm_fault_reasons[], scalable mode, from fault reason 0x30 ("Unknown" gaps left out). */
const VTD_SM_REASONS: Record<number, string> = {
  0x30: 'SM: Invalid Root Table Address',
  0x31: 'SM: TTM 0 for request with PASID',
  0x32: 'SM: TTM 0 for page group request',
  0x38: 'SM: Error attempting to access Root Entry',
  0x39: 'SM: Present bit in Root Entry is clear',
  0x3a: 'SM: Non-zero reserved field set in Root Entry',
  0x40: 'SM: Error attempting to access Context Entry',
  0x41: 'SM: Present bit in Context Entry is clear',
  0x42: 'SM: Non-zero reserved field set in the Context Entry',
  0x43: 'SM: Invalid Context Entry',
  0x44: 'SM: DTE field in Context Entry is clear',
  0x45: 'SM: PASID Enable field in Context Entry is clear',
  0x46: 'SM: PASID is larger than the max in Context Entry',
  0x47: 'SM: PRE field in Context-Entry is clear',
  0x48: 'SM: RID_PASID field error in Context-Entry',
  0x50: 'SM: Error attempting to access the PASID Directory Entry',
  0x51: 'SM: Present bit in Directory Entry is clear',
  0x52: 'SM: Non-zero reserved field set in PASID Directory Entry',
  0x58: 'SM: Error attempting to access PASID Table Entry',
  0x59: 'SM: Present bit in PASID Table Entry is clear',
  0x5a: 'SM: Non-zero reserved field set in PASID Table Entry',
  0x5b: 'SM: Invalid Scalable-Mode PASID Table Entry',
  0x5c: 'SM: ERE field is clear in PASID Table Entry',
  0x5d: 'SM: SRE field is clear in PASID Table Entry',
  0x70: 'SM: Error attempting to access first-level paging entry',
  0x71: 'SM: Present bit in first-level paging entry is clear',
  0x72: 'SM: Non-zero reserved field set in first-level paging entry',
  0x73: 'SM: Error attempting to access FL-PML4 entry',
  0x74: 'SM: First-level entry address beyond MGAW in Nested translation',
  0x75: 'SM: Read permission error in FL-PML4 entry in Nested translation',
  0x76: 'SM: Read permission error in first-level paging entry in Nested translation',
  0x77: 'SM: Write permission error in first-level paging entry in Nested translation',
  0x78: 'SM: Error attempting to access second-level paging entry',
  0x79: 'SM: Read/Write permission error in second-level paging entry',
  0x7a: 'SM: Non-zero reserved field set in second-level paging entry',
  0x7b: 'SM: Invalid second-level page table pointer',
  0x7c: 'SM: A/D bit update needed in second-level entry when set up in no snoop',
  0x80: 'SM: Address in first-level translation is not canonical',
  0x81: 'SM: U/S set 0 for first-level translation with user privilege',
  0x82: 'SM: No execute permission for request with PASID and ER=1',
  0x83: 'SM: Address beyond the DMA hardware max',
  0x84: 'SM: Second-level entry address beyond the max',
  0x85: 'SM: No write permission for Write/AtomicOp request',
  0x86: 'SM: No read permission for Read/AtomicOp request',
  0x87: 'SM: Invalid address-interrupt address',
  0x90: 'SM: A/D bit update needed in first-level entry when set up in no snoop',
}

/** dmar_get_fault_reason(): which table a fault reason falls in, as the kernel looks it up. */
export function vtdFaultReason(code: number): FaultReason & {type: 'dma' | 'interrupt' | null} {
  const base = {code: hex(code)}
  if (code >= 0x20 && code - 0x20 < VTD_IRQ_REASONS.length)
    return {...base, name: VTD_IRQ_REASONS[code - 0x20]!, table: 'irq_remap_fault_reasons', type: 'interrupt'}
  if (code >= 0x30 && code <= 0x90)
    return {
      ...base,
      name: VTD_SM_REASONS[code] ?? 'Unknown',
      table: 'dma_remap_sm_fault_reasons',
      type: 'dma',
    }
  if (code < VTD_DMA_REASONS.length)
    return {...base, name: VTD_DMA_REASONS[code]!, table: 'dma_remap_fault_reasons', type: 'dma'}
  return {...base, name: 'Unknown', table: 'none (dmar_get_fault_reason: Unknown)', type: null}
}

/** DMA_FSTS_* of drivers/iommu/intel/iommu.h: the Fault Status Register's bits. */
const VTD_FSTS_BITS: [number, string][] = [
  [0x01, 'PFO'],
  [0x02, 'PPF'],
  [0x10, 'IQE'],
  [0x20, 'ICE'],
  [0x40, 'ITE'],
  [0x80, 'PRO'],
]

/**
 * The requester "[bb:dd.f]", printed "%02x:%02x.%d", some kernels with 0x before each field;
 * 7.x kernels print the segment too ("[0000:00:0a.0]").
 */
const VTD_REQUESTER = String.raw`\[(?:([0-9a-fA-F]{4}):)?((?:0x)?[0-9a-fA-F]{1,2}):((?:0x)?[0-9a-fA-F]{1,2})\.((?:0x)?[0-7])\]`
/** The reason "[fault reason 06]" (older kernels, %02d: decimal) or "[fault reason 0x06]" (hex). */
const VTD_REASON = String.raw`\[fault reason ((?:0x[0-9a-fA-F]+)|[0-9]+)\]\s*(.*)`
const VTD_DMA = new RegExp(
  String.raw`\[(DMA Read|DMA Write)(?: (NO_PASID|PASID (?:0x)?([0-9a-fA-F]+)))?\] Request device ${VTD_REQUESTER}(?: PASID ([0-9a-fA-F]+))? fault addr (?:0x)?([0-9a-fA-F]+)\s*(?:${VTD_REASON})?$`,
)
const VTD_INTR = new RegExp(
  String.raw`\[INTR-REMAP\] Request device ${VTD_REQUESTER} fault index (?:0x)?([0-9a-fA-F]+)\s*(?:${VTD_REASON})?$`,
)
const VTD_FSTS = /DRHD: handling fault status reg ([0-9a-fA-F]+)\s*$/
/** The second line of the oldest kernels' two-line fault: "DMAR:[fault reason 05] PTE Write access is not set". */
const VTD_REASON_ONLY = new RegExp(String.raw`^(?:DMAR|dmar):\s*${VTD_REASON}$`)

const reasonNumber = (s: string) =>
  s.startsWith('0x') ? Number.parseInt(s.slice(2), 16) : Number.parseInt(s, 10)
const fieldNumber = (s: string) => Number.parseInt(s.replace(/^0x/, ''), 16)

function vtdRequester(
  seg: string | undefined,
  bus: string,
  dev: string,
  fn: string,
): {requester: string; bdf: Bdf | null; segmentAssumed: boolean} {
  const b = fieldNumber(bus)
  const d = fieldNumber(dev)
  const f = fieldNumber(fn)
  const requester = `${seg ? `${seg}:` : ''}${bus}:${dev}.${fn}`
  if (b > 0xff || d > 0x1f || f > 7) return {requester, bdf: null, segmentAssumed: false}
  return {
    requester,
    bdf: bdf(seg === undefined ? 0 : parseInt(seg, 16), b, d, f),
    segmentAssumed: seg === undefined,
  }
}

function blank(text: string): DecodedFault {
  return {
    vendor: null,
    kind: 'unparsed',
    requester: null,
    bdf: null,
    segmentAssumed: false,
    unit: null,
    driver: null,
    reason: null,
    printedReason: null,
    address: null,
    index: null,
    pasid: null,
    access: null,
    domain: null,
    streamId: null,
    flags: null,
    suppressed: null,
    text,
  }
}

function bits(value: number, table: [number, string][]): string[] {
  return table.filter(([bit]) => (value & bit) !== 0).map(([, name]) => name)
}

function decodeVtd(text: string): DecodedFault | null {
  let m = VTD_DMA.exec(text)
  if (m) {
    const [, type, pasidForm, newPasid, seg, bus, dev, fn, oldPasid, addr, reasonText, printed] = m
    const who = vtdRequester(seg, bus!, dev!, fn!)
    // "PASID ffffffff" is how older kernels printed "no PASID" (pasid -1 as %x).
    const pasidRaw = newPasid ?? oldPasid
    const pasid = pasidForm === 'NO_PASID' || !pasidRaw || /^f{8}$/i.test(pasidRaw) ? null : hexText(pasidRaw)
    const reason = reasonText ? vtdFaultReason(reasonNumber(reasonText)) : null
    return {
      ...blank(text),
      vendor: 'intel-vtd',
      kind: 'dma',
      ...who,
      reason: reason && {code: reason.code, name: reason.name, table: reason.table},
      printedReason: printed?.trim() || null,
      address: hexText(addr!),
      pasid,
      access: type === 'DMA Read' ? 'read' : 'write',
    }
  }
  m = VTD_INTR.exec(text)
  if (m) {
    const [, seg, bus, dev, fn, index, reasonText, printed] = m
    const who = vtdRequester(seg, bus!, dev!, fn!)
    const reason = reasonText ? vtdFaultReason(reasonNumber(reasonText)) : null
    return {
      ...blank(text),
      vendor: 'intel-vtd',
      kind: 'interrupt',
      ...who,
      reason: reason && {code: reason.code, name: reason.name, table: reason.table},
      printedReason: printed?.trim() || null,
      index: hexText(index!),
    }
  }
  m = VTD_FSTS.exec(text)
  if (m) {
    const value = Number.parseInt(m[1]!, 16)
    const set = bits(value, VTD_FSTS_BITS)
    // FRI (15:8): the fault recording register the hardware filled first.
    if (value & 0x02) set.push(`FRI=${(value >> 8) & 0xff}`)
    return {
      ...blank(text),
      vendor: 'intel-vtd',
      kind: 'fault-status',
      reason: {
        code: hex(value),
        name: `fault status ${set.join(' ') || 'clear'}`,
        table: 'DMA_FSTS_* (intel/iommu.h)',
      },
      flags: {raw: hex(value), set},
    }
  }
  return null
}

// ---------------------------------------------------------------------------------------------
// AMD-Vi (drivers/iommu/amd/iommu.c, amd_iommu_types.h)

/** EVENT_TYPE_* of amd_iommu_types.h, by the name iommu_print_event() prints. */
const AMD_EVENT_TYPES: Record<string, number> = {
  ILLEGAL_DEV_TABLE_ENTRY: 0x1,
  IO_PAGE_FAULT: 0x2,
  DEV_TAB_HARDWARE_ERROR: 0x3,
  PAGE_TAB_HARDWARE_ERROR: 0x4,
  ILLEGAL_COMMAND_ERROR: 0x5,
  COMMAND_HARDWARE_ERROR: 0x6,
  IOTLB_INV_TIMEOUT: 0x7,
  INVALID_DEVICE_REQUEST: 0x8,
  INVALID_PPR_REQUEST: 0x9,
  RMP_PAGE_FAULT: 0xd,
  RMP_HW_ERROR: 0xe,
}

/**
 * The event flags (EVENT_FLAGS_MASK 0xfff): EVENT_FLAG_I, _PR, _RW, _TR are named in
 * amd_iommu_types.h; GN, NX, US, PE and RZ at the positions the AMD IOMMU specification
 * (48882, "IO_PAGE_FAULT Event") gives them.
 */
const AMD_FLAG_BITS: [number, string][] = [
  [0x001, 'GN'],
  [0x002, 'NX'],
  [0x004, 'US'],
  [0x008, 'I'],
  [0x010, 'PR'],
  [0x020, 'RW'],
  [0x040, 'PE'],
  [0x080, 'RZ'],
  [0x100, 'TR'],
]
const AMD_EVENT_I = 0x008
const AMD_EVENT_RW = 0x020

/** "Event logged [NAME key=value ...]": the bracket may be missing its end on the UNKNOWN form. */
const AMD_EVENT = /AMD-Vi: Event logged \[([A-Z_]+)(?:\s+([^\]]*))?\]?\s*$/
const AMD_NOT_ATTACHED = /AMD-Vi: Event logged \[Device not attached to domain properly\]/
const AMD_BDF = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/

function amdBdf(text: string): Bdf | null {
  const m = AMD_BDF.exec(text)
  if (!m) return null
  const [, seg, bus, dev, fn] = m
  if (Number.parseInt(dev!, 16) > 0x1f) return null
  return `${(seg ?? '0000').toLowerCase()}:${bus!.toLowerCase()}:${dev!.toLowerCase()}.${fn}`
}

function decodeAmd(text: string, prefix: DevicePrefix | null): DecodedFault | null {
  if (AMD_NOT_ATTACHED.test(text)) {
    return {
      ...blank(text),
      vendor: 'amd-vi',
      kind: 'event',
      reason: {
        code: null,
        name: 'Device not attached to domain properly',
        table: 'amd_iommu_report_page_fault',
      },
      ...fromPrefix(prefix),
    }
  }
  const m = AMD_EVENT.exec(text)
  if (!m) return null
  const name = m[1]!
  const fields = new Map<string, string>()
  for (const part of (m[2] ?? '').split(/[\s,]+/)) {
    const eq = part.indexOf('=')
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1))
  }
  const number = (key: string): Hex | null => {
    const v = fields.get(key)
    return v !== undefined && /^0x[0-9a-fA-F]+$/.test(v) ? hexText(v) : null
  }
  const code = AMD_EVENT_TYPES[name]
  const device = fields.get('device')
  const bdf = device ? amdBdf(device) : null
  const flagsText = number('flags')
  const flags = flagsText === null ? null : Number.parseInt(flagsText.slice(2), 16)
  const isPageFault = name === 'IO_PAGE_FAULT'
  // RW is meaningful only for a memory request (I clear): amd_iommu_report_page_fault.
  const access =
    flags === null || !(isPageFault || name === 'ILLEGAL_DEV_TABLE_ENTRY') || flags & AMD_EVENT_I
      ? null
      : flags & AMD_EVENT_RW
        ? 'write'
        : 'read'
  const own = fromPrefix(prefix)
  return {
    ...blank(text),
    vendor: 'amd-vi',
    kind: isPageFault && flags !== null && flags & AMD_EVENT_I ? 'interrupt' : isPageFault ? 'dma' : 'event',
    requester: device ?? own.requester,
    bdf: bdf ?? own.bdf,
    unit: own.unit,
    driver: own.driver,
    reason: {
      code: code === undefined ? null : hex(code),
      name,
      table: code === undefined ? 'not an EVENT_TYPE_* name' : 'EVENT_TYPE_* (amd_iommu_types.h)',
    },
    address: number('address') ?? number('gpa'),
    pasid: number('pasid'),
    domain: number('domain'),
    access,
    flags: flags === null ? null : {raw: hex(flags), set: bits(flags, AMD_FLAG_BITS)},
  }
}

// ---------------------------------------------------------------------------------------------
// Arm SMMUv3 (arm-smmu-v3.c, arm-smmu-v3.h) and SMMUv2 (arm-smmu.c, arm-smmu.h)

/**
 * event_str[] of arm-smmu-v3.c (the ids it names), completed with the other event numbers of the
 * SMMUv3 architecture specification (IHI 0070, "Event records").
 */
const SMMUV3_EVENTS: Record<number, string> = {
  0x01: 'F_UUT',
  0x02: 'C_BAD_STREAMID',
  0x03: 'F_STE_FETCH',
  0x04: 'C_BAD_STE',
  0x05: 'F_BAD_ATS_TREQ',
  0x06: 'F_STREAM_DISABLED',
  0x07: 'F_TRANSL_FORBIDDEN',
  0x08: 'C_BAD_SUBSTREAMID',
  0x09: 'F_CD_FETCH',
  0x0a: 'C_BAD_CD',
  0x0b: 'F_WALK_EABT',
  0x10: 'F_TRANSLATION',
  0x11: 'F_ADDR_SIZE',
  0x12: 'F_ACCESS',
  0x13: 'F_PERMISSION',
  0x20: 'F_TLB_CONFLICT',
  0x21: 'F_CFG_CONFLICT',
  0x24: 'E_PAGE_REQUEST',
  0x25: 'F_VMS_FETCH',
}
/** The faults of a translation (EVT_ID_TRANSLATION_FAULT .. EVT_ID_PERMISSION_FAULT), which carry an address and a direction. */
const SMMUV3_TRANSLATION = new Set([0x10, 0x11, 0x12, 0x13])

export function smmuV3Event(id: number): FaultReason {
  const name = SMMUV3_EVENTS[id]
  return {
    code: hex(id),
    name: name ?? 'UNKNOWN',
    table: name ? 'EVT_ID_* / event_str (arm-smmu-v3)' : 'not an SMMUv3 event id',
  }
}

/** "arm-smmu-v3 arm-smmu-v3.2.auto: event 0x10 received:" and its four dwords. */
const SMMUV3_HEADER = /^arm-smmu-v3 (\S+): event (0x[0-9a-fA-F]+) received:\s*$/
const SMMUV3_DWORD = /^arm-smmu-v3 (\S+):\s+(0x[0-9a-fA-F]{1,16})\s*$/
/** The decoded form of newer kernels: "event: F_TRANSLATION client: 0000:01:00.0 sid: 0x100 ssid: 0x0 iova: 0x... ipa: 0x...". */
const SMMUV3_DECODED =
  /^arm-smmu-v3 (\S+): event: (\w+) client: (\S+) sid: (0x[0-9a-fA-F]+) ssid: (0x[0-9a-fA-F]+) iova: (0x[0-9a-fA-F]+) ipa: (0x[0-9a-fA-F]+)/
/** arm-smmu.c's format: "Unhandled context fault: fsr=0x%x, iova=0x%08lx, fsynr=0x%x, cbfrsynra=0x%x, cb=%d", after the unit's name. */
const SMMUV2_CONTEXT =
  /^arm-smmu (\S+): Unhandled context fault: fsr=(0x[0-9a-fA-F]+), iova=(0x[0-9a-fA-F]+), fsynr=(0x[0-9a-fA-F]+), cbfrsynra=(0x[0-9a-fA-F]+), cb=(\d+)/

/** ARM_SMMU_CB_FSR_* (arm-smmu.h): the context bank's Fault Status Register. */
const SMMUV2_FSR_BITS: [number, string][] = [
  [1 << 1, 'TF'],
  [1 << 2, 'AFF'],
  [1 << 3, 'PF'],
  [1 << 4, 'EF'],
  [1 << 5, 'TLBMCF'],
  [1 << 6, 'TLBLKF'],
  [1 << 7, 'ASF'],
  [1 << 8, 'UUT'],
  [1 << 30, 'SS'],
  [2 ** 31, 'MULTI'],
]
/** ARM_SMMU_CB_FSYNR0_WNR: the faulting access was a write. */
const SMMUV2_FSYNR0_WNR = 1 << 4

/** The record's fields (EVTQ_0_*, EVTQ_1_*, EVTQ_2_ADDR of arm-smmu-v3.h). */
export function decodeSmmuV3Record(unit: string, dwords: bigint[], text: string): DecodedFault {
  const [d0, d1, d2] = dwords as [bigint, bigint, bigint, bigint]
  const id = Number(d0 & 0xffn)
  const ssv = (d0 >> 11n) & 1n
  const translation = SMMUV3_TRANSLATION.has(id)
  return {
    ...blank(text),
    vendor: 'arm-smmu-v3',
    kind: translation ? 'dma' : 'event',
    unit,
    reason: smmuV3Event(id),
    streamId: hex(d0 >> 32n),
    pasid: ssv ? hex((d0 >> 12n) & 0xfffffn) : null,
    address: translation ? hex(d2) : null,
    // EVTQ_1_RnW (bit 35): set for a read.
    access: translation ? ((d1 >> 35n) & 1n ? 'read' : 'write') : null,
  }
}

function decodeSmmuV2(text: string): DecodedFault | null {
  const m = SMMUV2_CONTEXT.exec(text)
  if (!m) return null
  const [, unit, fsr, iova, fsynr, cbfrsynra] = m
  const fsrValue = Number.parseInt(fsr!.slice(2), 16)
  const set = bits(fsrValue, SMMUV2_FSR_BITS)
  return {
    ...blank(text),
    vendor: 'arm-smmu',
    kind: 'dma',
    unit: unit!,
    reason: {
      code: hexText(fsr!),
      name: set.length ? `context fault: ${set.join(' ')}` : 'context fault',
      table: 'ARM_SMMU_CB_FSR_* (arm-smmu.h)',
    },
    address: hexText(iova!),
    // CBFRSYNRA's low 16 bits are the stream id of the faulting transaction.
    streamId: hex(Number.parseInt(cbfrsynra!.slice(2), 16) & 0xffff),
    access: Number.parseInt(fsynr!.slice(2), 16) & SMMUV2_FSYNR0_WNR ? 'write' : 'read',
    flags: {raw: hexText(fsr!), set},
  }
}

function decodeSmmuV3Decoded(text: string): DecodedFault | null {
  const m = SMMUV3_DECODED.exec(text)
  if (!m) return null
  const [, unit, name, client, sid, ssid, iova] = m
  const id = Object.entries(SMMUV3_EVENTS).find(([, n]) => n === name)?.[0]
  const idNumber = id === undefined ? null : Number(id)
  const bdf = amdBdf(client!)
  const translation = idNumber !== null && SMMUV3_TRANSLATION.has(idNumber)
  return {
    ...blank(text),
    vendor: 'arm-smmu-v3',
    kind: translation ? 'dma' : 'event',
    unit: unit!,
    requester: client!,
    bdf,
    reason:
      idNumber === null
        ? {code: null, name: name!, table: 'not an SMMUv3 event name'}
        : smmuV3Event(idNumber),
    streamId: hexText(sid!),
    pasid: hexText(ssid!),
    address: translation ? hexText(iova!) : null,
  }
}

// ---------------------------------------------------------------------------------------------
// virtio-iommu (drivers/iommu/virtio-iommu.c)

/**
 * "virtio_iommu virtio0: page fault from EP 24 at 0xbadc000 [R]": the reason string
 * viommu_fault_handler() prints for VIRTIO_IOMMU_FAULT_R_* ("page" for R_MAPPING), the endpoint
 * id, and the address with the R, W, X flags when the device gave one.
 */
const VIRTIO_FAULT =
  /^(?:\S+ (\S+): )?(\w+(?: \w+)?) fault from EP (\d+)(?: PASID (\d+))?(?: at (0x[0-9a-fA-F]+) \[([RWX]*)\])?\s*$/
const VIRTIO_REASONS: Record<string, string> = {
  unknown: 'VIRTIO_IOMMU_FAULT_R_UNKNOWN',
  domain: 'VIRTIO_IOMMU_FAULT_R_DOMAIN',
  page: 'VIRTIO_IOMMU_FAULT_R_MAPPING',
}

function decodeVirtio(text: string): DecodedFault | null {
  const m = VIRTIO_FAULT.exec(text)
  if (!m) return null
  const [, unit, reason, ep, pasid, address, rwx] = m
  const endpoint = Number(ep)
  // For a PCI endpoint the id is its requester ID (bus << 8 | devfn) in segment 0.
  const bdf = endpoint <= 0xffff ? ridBdf(0, endpoint) : null
  return {
    ...blank(text),
    vendor: 'virtio-iommu',
    kind: reason === 'page' ? 'dma' : 'event',
    requester: `EP ${ep}`,
    bdf,
    segmentAssumed: bdf !== null,
    unit: unit ?? null,
    reason: {
      code: null,
      name: `${reason} fault`,
      table: VIRTIO_REASONS[reason!] ?? 'not a VIRTIO_IOMMU_FAULT_R_* reason',
    },
    address: address ? hexText(address) : null,
    pasid: pasid === undefined ? null : hex(Number(pasid)),
    access: rwx?.includes('W') ? 'write' : rwx?.includes('R') ? 'read' : null,
    flags:
      rwx === undefined
        ? null
        : {
            raw: hex((rwx.includes('R') ? 1 : 0) | (rwx.includes('W') ? 2 : 0) | (rwx.includes('X') ? 4 : 0)),
            set: [...rwx],
          },
  }
}

// ---------------------------------------------------------------------------------------------
// Lines and the parser's state

/** "nvme 0000:01:00.0: " (dev_printk of a PCI device) or "iommu ivhd0: " (of the IOMMU itself). */
const DEVICE_PREFIX = /^(\S+) ([^\s:]+(?::[^\s:]+)*): /
interface DevicePrefix {
  driver: string
  device: string
}

function devicePrefix(text: string): DevicePrefix | null {
  const m = DEVICE_PREFIX.exec(text)
  return m ? {driver: m[1]!, device: m[2]!} : null
}

function fromPrefix(p: DevicePrefix | null): Pick<DecodedFault, 'requester' | 'bdf' | 'unit' | 'driver'> {
  if (!p) return {requester: null, bdf: null, unit: null, driver: null}
  const bdf = amdBdf(p.device)
  if (bdf) return {requester: p.device, bdf, unit: null, driver: p.driver}
  // "iommu ivhd0:": the unit itself reports.
  return {requester: null, bdf: null, unit: p.device, driver: null}
}

/** "dmar_fault: 12 callbacks suppressed", as lib/ratelimit.c prints it. */
const SUPPRESSED = /^(?:(\S+) (\S+): )?(\w+): (\d+) callbacks suppressed\s*$/
/** Functions of the IOMMU drivers whose ratelimits count their fault messages. */
const SUPPRESSING: [RegExp, FaultVendor][] = [
  [/^dmar_|^intel_/, 'intel-vtd'],
  [/^amd_iommu_|^iommu_print_event$/, 'amd-vi'],
  [/^arm_smmu_(?:evtq|handle_evt|decode_event|dump_event)/, 'arm-smmu-v3'],
  [/^arm_smmu_context_fault$/, 'arm-smmu'],
  [/^viommu_/, 'virtio-iommu'],
]

/** A cheap test that a message may be an IOMMU line at all: most of a log is not. */
const CANDIDATE = /DMAR|dmar|AMD-Vi|arm-smmu|callbacks suppressed|fault from EP/

/** The beginnings of IOMMU fault lines: a line that has one but does not parse is kept raw. */
const FAULTISH = [
  /(?:DMAR|dmar):\s*\[(?:DMA|INTR)/,
  /(?:DMAR|dmar):\s*DRHD: handling fault/,
  /AMD-Vi: Event logged/,
  /^arm-smmu(?:-v3)? \S+: (?:event|Unhandled context fault|Unexpected global fault)/,
]

/**
 * Decodes a stream of kernel messages (without their log prefixes). Stateful only where the
 * kernel splits one record over several lines: SMMUv3 events (a header and four dwords) and the
 * oldest VT-d faults (the reason on a line of its own). Each message comes with a tag (its line
 * number and time); a record comes back with the tag of the line it started on.
 */
export class FaultDecoder<T = undefined> {
  private smmu: {unit: string; dwords: bigint[]; lines: string[]; at: T} | null = null
  private vtdPending: {fault: DecodedFault; at: T} | null = null

  /** The records this message completes (none for most messages). */
  push(text: string, at: T): {fault: DecodedFault; at: T}[] {
    const out: {fault: DecodedFault; at: T}[] = []
    if (this.smmu) {
      const m = SMMUV3_DWORD.exec(text)
      if (m && m[1] === this.smmu.unit) {
        this.smmu.dwords.push(BigInt(m[2]!))
        this.smmu.lines.push(text)
        if (this.smmu.dwords.length === 4) {
          const s = this.smmu
          this.smmu = null
          out.push({fault: decodeSmmuV3Record(s.unit, s.dwords, s.lines.join('\n')), at: s.at})
        }
        return out
      }
      out.push(this.flushSmmu())
    }
    if (this.vtdPending) {
      const pending = this.vtdPending
      this.vtdPending = null
      const m = VTD_REASON_ONLY.exec(text)
      if (m) {
        const reason = vtdFaultReason(reasonNumber(m[1]!))
        out.push({
          fault: {
            ...pending.fault,
            reason: {code: reason.code, name: reason.name, table: reason.table},
            printedReason: m[2]?.trim() || null,
            text: `${pending.fault.text}\n${text}`,
          },
          at: pending.at,
        })
        return out
      }
      out.push(pending)
    }
    if (!CANDIDATE.test(text)) return out
    const fault = this.decodeOne(text, at)
    if (fault) out.push({fault, at})
    return out
  }

  /** What is left at the end of the input: an SMMUv3 event or a VT-d fault cut short. */
  end(): {fault: DecodedFault; at: T}[] {
    const out: {fault: DecodedFault; at: T}[] = []
    if (this.smmu) out.push(this.flushSmmu())
    if (this.vtdPending) out.push(this.vtdPending)
    this.vtdPending = null
    return out
  }

  private flushSmmu(): {fault: DecodedFault; at: T} {
    const s = this.smmu!
    this.smmu = null
    return {fault: {...blank(s.lines.join('\n')), vendor: 'arm-smmu-v3', unit: s.unit}, at: s.at}
  }

  private decodeOne(text: string, at: T): DecodedFault | null {
    const header = SMMUV3_HEADER.exec(text)
    if (header) {
      this.smmu = {unit: header[1]!, dwords: [], lines: [text], at}
      return null
    }
    const suppressed = SUPPRESSED.exec(text)
    if (suppressed) {
      const fn = suppressed[3]!
      const vendor = SUPPRESSING.find(([re]) => re.test(fn))?.[1]
      if (!vendor) return null
      return {
        ...blank(text),
        vendor,
        kind: 'suppressed',
        suppressed: {count: Number(suppressed[4]), function: fn},
      }
    }
    const prefix = devicePrefix(text)
    const vtd = decodeVtd(text)
    if (vtd) {
      if (vtd.kind === 'dma' && vtd.reason === null) {
        // The oldest kernels printed the reason on the next line.
        this.vtdPending = {fault: vtd, at}
        return null
      }
      return vtd
    }
    const decoded =
      decodeAmd(text, prefix) ?? decodeSmmuV2(text) ?? decodeSmmuV3Decoded(text) ?? decodeVirtio(text)
    if (decoded) return decoded
    if (FAULTISH.some((re) => re.test(text))) {
      const vendor: FaultVendor | null = /AMD-Vi/.test(text)
        ? 'amd-vi'
        : /DMAR|dmar/.test(text)
          ? 'intel-vtd'
          : /^arm-smmu-v3/.test(text)
            ? 'arm-smmu-v3'
            : /^arm-smmu/.test(text)
              ? 'arm-smmu'
              : null
      return {...blank(text), vendor}
    }
    return null
  }
}
