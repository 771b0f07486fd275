/**
 * A pure decoder for PCI configuration space, as sysfs exposes it in /sys/bus/pci/devices/BDF/config.
 * Register offsets and bits mirror include/uapi/linux/pci_regs.h (Linux 7.2) under the kernel's
 * names, and the capability lists are walked the way drivers/pci/pci.h walks them, so what this
 * reports is what the kernel acts on. The bytes come from the device, so every read is bounds
 * checked and every list walk is bounded.
 */

import {hexWidth} from '../records.js'

const PCI_CFG_SPACE_SIZE = 256
const PCI_CFG_SPACE_EXP_SIZE = 4096
const PCI_STD_HEADER_SIZEOF = 64

const PCI_STATUS = 0x06
const PCI_STATUS_CAP_LIST = 0x10
const PCI_HEADER_TYPE = 0x0e
const PCI_HEADER_TYPE_MASK = 0x7f
const PCI_HEADER_TYPE_NORMAL = 0
const PCI_HEADER_TYPE_BRIDGE = 1
const PCI_HEADER_TYPE_CARDBUS = 2
const PCI_HEADER_TYPE_MFD = 0x80
const PCI_CAPABILITY_LIST = 0x34
const PCI_CB_CAPABILITY_LIST = 0x14

const PCI_CAP_LIST_ID = 0
const PCI_CAP_LIST_NEXT = 1
const PCI_CAP_ID_PM = 0x01
const PCI_CAP_ID_AGP = 0x02
const PCI_CAP_ID_VPD = 0x03
const PCI_CAP_ID_SLOTID = 0x04
const PCI_CAP_ID_MSI = 0x05
const PCI_CAP_ID_CHSWP = 0x06
const PCI_CAP_ID_PCIX = 0x07
const PCI_CAP_ID_HT = 0x08
const PCI_CAP_ID_VNDR = 0x09
const PCI_CAP_ID_DBG = 0x0a
const PCI_CAP_ID_CCRC = 0x0b
const PCI_CAP_ID_SHPC = 0x0c
const PCI_CAP_ID_SSVID = 0x0d
const PCI_CAP_ID_AGP3 = 0x0e
const PCI_CAP_ID_SECDEV = 0x0f
const PCI_CAP_ID_EXP = 0x10
const PCI_CAP_ID_MSIX = 0x11
const PCI_CAP_ID_SATA = 0x12
const PCI_CAP_ID_AF = 0x13
const PCI_CAP_ID_EA = 0x14

const PCI_EXP_FLAGS = 0x02
const PCI_EXP_FLAGS_VERS = 0x000f
const PCI_EXP_FLAGS_TYPE = 0x00f0
const PCI_EXP_TYPE_ENDPOINT = 0x0
const PCI_EXP_TYPE_LEG_END = 0x1
const PCI_EXP_TYPE_ROOT_PORT = 0x4
const PCI_EXP_TYPE_UPSTREAM = 0x5
const PCI_EXP_TYPE_DOWNSTREAM = 0x6
const PCI_EXP_TYPE_PCI_BRIDGE = 0x7
const PCI_EXP_TYPE_PCIE_BRIDGE = 0x8
const PCI_EXP_TYPE_RC_END = 0x9
const PCI_EXP_TYPE_RC_EC = 0xa
const PCI_EXP_FLAGS_SLOT = 0x0100

const PCI_EXT_CAP_ID = (header: number) => header & 0x0000ffff
const PCI_EXT_CAP_VER = (header: number) => (header >>> 16) & 0xf
const PCI_EXT_CAP_NEXT = (header: number) => (header >>> 20) & 0xffc
const PCI_EXT_CAP_ID_ERR = 0x01
const PCI_EXT_CAP_ID_VC = 0x02
const PCI_EXT_CAP_ID_DSN = 0x03
const PCI_EXT_CAP_ID_PWR = 0x04
const PCI_EXT_CAP_ID_RCLD = 0x05
const PCI_EXT_CAP_ID_RCILC = 0x06
const PCI_EXT_CAP_ID_RCEC = 0x07
const PCI_EXT_CAP_ID_MFVC = 0x08
const PCI_EXT_CAP_ID_VC9 = 0x09
const PCI_EXT_CAP_ID_RCRB = 0x0a
const PCI_EXT_CAP_ID_VNDR = 0x0b
const PCI_EXT_CAP_ID_CAC = 0x0c
const PCI_EXT_CAP_ID_ACS = 0x0d
const PCI_EXT_CAP_ID_ARI = 0x0e
const PCI_EXT_CAP_ID_ATS = 0x0f
const PCI_EXT_CAP_ID_SRIOV = 0x10
const PCI_EXT_CAP_ID_MRIOV = 0x11
const PCI_EXT_CAP_ID_MCAST = 0x12
const PCI_EXT_CAP_ID_PRI = 0x13
const PCI_EXT_CAP_ID_AMD_XXX = 0x14
const PCI_EXT_CAP_ID_REBAR = 0x15
const PCI_EXT_CAP_ID_DPA = 0x16
const PCI_EXT_CAP_ID_TPH = 0x17
const PCI_EXT_CAP_ID_LTR = 0x18
const PCI_EXT_CAP_ID_SECPCI = 0x19
const PCI_EXT_CAP_ID_PMUX = 0x1a
const PCI_EXT_CAP_ID_PASID = 0x1b
const PCI_EXT_CAP_ID_DPC = 0x1d
const PCI_EXT_CAP_ID_L1SS = 0x1e
const PCI_EXT_CAP_ID_PTM = 0x1f
const PCI_EXT_CAP_ID_DVSEC = 0x23
const PCI_EXT_CAP_ID_VF_REBAR = 0x24
const PCI_EXT_CAP_ID_DLF = 0x25
const PCI_EXT_CAP_ID_PL_16GT = 0x26
const PCI_EXT_CAP_ID_NPEM = 0x29
const PCI_EXT_CAP_ID_PL_32GT = 0x2a
const PCI_EXT_CAP_ID_DOE = 0x2e
const PCI_EXT_CAP_ID_DEV3 = 0x2f
const PCI_EXT_CAP_ID_IDE = 0x30
const PCI_EXT_CAP_ID_PL_64GT = 0x31

const PCI_ARI_CAP = 0x04
const PCI_ARI_CAP_MFVC = 0x0001
const PCI_ARI_CAP_ACS = 0x0002
const PCI_ARI_CAP_NFN = (x: number) => (x >> 8) & 0xff
const PCI_ARI_CTRL = 0x06
const PCI_ARI_CTRL_MFVC = 0x0001
const PCI_ARI_CTRL_ACS = 0x0002
const PCI_ARI_CTRL_FG = (x: number) => (x >> 4) & 7

const PCI_ATS_CAP = 0x04
const PCI_ATS_CAP_QDEP = (x: number) => x & 0x1f
const PCI_ATS_MAX_QDEP = 32
const PCI_ATS_CAP_PAGE_ALIGNED = 0x0020
const PCI_ATS_CTRL = 0x06
const PCI_ATS_CTRL_ENABLE = 0x8000
const PCI_ATS_CTRL_STU = (x: number) => x & 0x1f
const PCI_ATS_MIN_STU = 12
// Global Invalidate Supported: PCIe r6.0 sec 10.5.1.2, bit 6. pci_regs.h has no name for it.
const PCI_ATS_CAP_GLOBAL_INV = 0x0040

const PCI_PRI_CTRL = 0x04
const PCI_PRI_CTRL_ENABLE = 0x0001
const PCI_PRI_STATUS = 0x06
const PCI_PRI_STATUS_PASID = 0x8000
const PCI_PRI_MAX_REQ = 0x08
const PCI_PRI_ALLOC_REQ = 0x0c

const PCI_PASID_CAP = 0x04
const PCI_PASID_CAP_EXEC = 0x0002
const PCI_PASID_CAP_PRIV = 0x0004
const PCI_PASID_CAP_WIDTH = 0x1f00
const PCI_PASID_CTRL = 0x06
const PCI_PASID_CTRL_ENABLE = 0x0001
const PCI_PASID_CTRL_EXEC = 0x0002
const PCI_PASID_CTRL_PRIV = 0x0004

const PCI_SRIOV_CAP = 0x04
const PCI_SRIOV_CAP_VFM = 0x00000001
const PCI_SRIOV_CTRL = 0x08
const PCI_SRIOV_CTRL_VFE = 0x0001
const PCI_SRIOV_CTRL_ARI = 0x0010
const PCI_SRIOV_INITIAL_VF = 0x0c
const PCI_SRIOV_TOTAL_VF = 0x0e
const PCI_SRIOV_NUM_VF = 0x10
const PCI_SRIOV_VF_OFFSET = 0x14
const PCI_SRIOV_VF_STRIDE = 0x16
const PCI_SRIOV_VF_DID = 0x1a

const PCI_ACS_CAP = 0x04
const PCI_ACS_SV = 0x0001
const PCI_ACS_TB = 0x0002
const PCI_ACS_RR = 0x0004
const PCI_ACS_CR = 0x0008
const PCI_ACS_UF = 0x0010
const PCI_ACS_EC = 0x0020
const PCI_ACS_DT = 0x0040
const PCI_ACS_CTRL = 0x06

/** From drivers/pci/pci.h: the kernel gives up on a standard capability list after 48 entries. */
const PCI_FIND_CAP_TTL = 48
/** PCI_FIND_NEXT_EXT_CAP's bound: no more extended capabilities than 8-byte slots above 256. */
const PCI_FIND_EXT_CAP_TTL = (PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE) / 8

export type ExpressType =
  | 'endpoint'
  | 'legacy-endpoint'
  | 'rc-integrated-endpoint'
  | 'rc-event-collector'
  | 'root-port'
  | 'upstream-port'
  | 'downstream-port'
  | 'pcie-to-pci-bridge'
  | 'pci-to-pcie-bridge'

export interface Express {
  /** null for a device/port type the spec reserves (2, 3, 0xb-0xf). */
  type: ExpressType | null
  version: number
  slotImplemented: boolean
}

/**
 * The ACS Capability or Control register's bits; lspci calls them SrcValid TransBlk ReqRedir
 * CmpltRedir UpstreamFwd EgressCtrl DirectTrans.
 */
export interface AcsBits {
  sv: boolean
  tb: boolean
  rr: boolean
  cr: boolean
  uf: boolean
  ec: boolean
  dt: boolean
}

export interface Acs {
  capabilities: AcsBits
  control: AcsBits
}

export interface Ats {
  enabled: boolean
  /** Invalidations the device can queue; the register's 0 means 32, so this is 1-32. */
  invalidateQueueDepth: number
  pageAligned: boolean
  globalInvalidate: boolean
  /** Bytes: the STU field encodes 2^(12+STU); meaningful once the OS has enabled ATS. */
  smallestTranslationUnit: number
}

export interface Pri {
  enabled: boolean
  outstandingRequestCapacity: number
  outstandingRequestAllocation: number
  pasidRequired: boolean
}

export interface Pasid {
  enabled: boolean
  /** Bits; the device supports 2^width PASIDs (the kernel's pci_max_pasids). */
  width: number
  execute: boolean
  privileged: boolean
  executeEnabled: boolean
  privilegedEnabled: boolean
}

export interface Ari {
  nextFunction: number
  mfvcGroups: boolean
  acsGroups: boolean
  mfvcGroupsEnabled: boolean
  acsGroupsEnabled: boolean
  functionGroup: number
}

export interface Sriov {
  totalVfs: number
  initialVfs: number
  numVfs: number
  vfOffset: number
  vfStride: number
  vfDeviceId: string
  /** VF Enable */
  enabled: boolean
  ariHierarchy: boolean
  migrationCapable: boolean
}

export interface CapabilityEntry {
  id: string
  /** null for an id pci_regs.h does not name. */
  name: string | null
  offset: string
}

export interface ExtendedCapabilityEntry extends CapabilityEntry {
  version: number
}

export interface PciConfig {
  length: number
  /** The buffer held every register this decoder reads: false for the 64 bytes non-root users get. */
  complete: boolean
  /**
   * 0 normal, 1 PCI-to-PCI bridge, 2 CardBus bridge. The kernel ignores a device with any other
   * layout, and no capability list is walked for one here.
   */
  headerType: number
  multifunction: boolean
  express: Express | null
  acs: Acs | null
  ats: Ats | null
  pri: Pri | null
  pasid: Pasid | null
  ari: Ari | null
  sriov: Sriov | null
  capabilities: CapabilityEntry[]
  extendedCapabilities: ExtendedCapabilityEntry[]
  /** What could not be decoded because the buffer ends early; a null above may hide one of these. */
  unreadable: string[]
}

const CAPABILITY_NAMES: Record<number, string> = {
  [PCI_CAP_ID_PM]: 'Power Management',
  [PCI_CAP_ID_AGP]: 'Accelerated Graphics Port',
  [PCI_CAP_ID_VPD]: 'Vital Product Data',
  [PCI_CAP_ID_SLOTID]: 'Slot Identification',
  [PCI_CAP_ID_MSI]: 'Message Signalled Interrupts',
  [PCI_CAP_ID_CHSWP]: 'CompactPCI HotSwap',
  [PCI_CAP_ID_PCIX]: 'PCI-X',
  [PCI_CAP_ID_HT]: 'HyperTransport',
  [PCI_CAP_ID_VNDR]: 'Vendor-Specific',
  [PCI_CAP_ID_DBG]: 'Debug port',
  [PCI_CAP_ID_CCRC]: 'CompactPCI Central Resource Control',
  [PCI_CAP_ID_SHPC]: 'PCI Standard Hot-Plug Controller',
  [PCI_CAP_ID_SSVID]: 'Bridge subsystem vendor/device ID',
  [PCI_CAP_ID_AGP3]: 'AGP Target PCI-PCI bridge',
  [PCI_CAP_ID_SECDEV]: 'Secure Device',
  [PCI_CAP_ID_EXP]: 'PCI Express',
  [PCI_CAP_ID_MSIX]: 'MSI-X',
  [PCI_CAP_ID_SATA]: 'SATA Data/Index Conf.',
  [PCI_CAP_ID_AF]: 'PCI Advanced Features',
  [PCI_CAP_ID_EA]: 'PCI Enhanced Allocation',
}

const EXTENDED_CAPABILITY_NAMES: Record<number, string> = {
  [PCI_EXT_CAP_ID_ERR]: 'Advanced Error Reporting',
  [PCI_EXT_CAP_ID_VC]: 'Virtual Channel Capability',
  [PCI_EXT_CAP_ID_DSN]: 'Device Serial Number',
  [PCI_EXT_CAP_ID_PWR]: 'Power Budgeting',
  [PCI_EXT_CAP_ID_RCLD]: 'Root Complex Link Declaration',
  [PCI_EXT_CAP_ID_RCILC]: 'Root Complex Internal Link Control',
  [PCI_EXT_CAP_ID_RCEC]: 'Root Complex Event Collector',
  [PCI_EXT_CAP_ID_MFVC]: 'Multi-Function VC Capability',
  [PCI_EXT_CAP_ID_VC9]: 'Virtual Channel Capability',
  [PCI_EXT_CAP_ID_RCRB]: 'Root Complex Register Block',
  [PCI_EXT_CAP_ID_VNDR]: 'Vendor-Specific',
  [PCI_EXT_CAP_ID_CAC]: 'Config Access',
  [PCI_EXT_CAP_ID_ACS]: 'Access Control Services',
  [PCI_EXT_CAP_ID_ARI]: 'Alternate Routing ID',
  [PCI_EXT_CAP_ID_ATS]: 'Address Translation Services',
  [PCI_EXT_CAP_ID_SRIOV]: 'Single Root I/O Virtualization',
  [PCI_EXT_CAP_ID_MRIOV]: 'Multi Root I/O Virtualization',
  [PCI_EXT_CAP_ID_MCAST]: 'Multicast',
  [PCI_EXT_CAP_ID_PRI]: 'Page Request Interface',
  [PCI_EXT_CAP_ID_AMD_XXX]: 'Reserved for AMD',
  [PCI_EXT_CAP_ID_REBAR]: 'Resizable BAR',
  [PCI_EXT_CAP_ID_DPA]: 'Dynamic Power Allocation',
  [PCI_EXT_CAP_ID_TPH]: 'TPH Requester',
  [PCI_EXT_CAP_ID_LTR]: 'Latency Tolerance Reporting',
  [PCI_EXT_CAP_ID_SECPCI]: 'Secondary PCIe Capability',
  [PCI_EXT_CAP_ID_PMUX]: 'Protocol Multiplexing',
  [PCI_EXT_CAP_ID_PASID]: 'Process Address Space ID',
  [PCI_EXT_CAP_ID_DPC]: 'Downstream Port Containment',
  [PCI_EXT_CAP_ID_L1SS]: 'L1 PM Substates',
  [PCI_EXT_CAP_ID_PTM]: 'Precision Time Measurement',
  [PCI_EXT_CAP_ID_DVSEC]: 'Designated Vendor-Specific',
  [PCI_EXT_CAP_ID_VF_REBAR]: 'VF Resizable BAR',
  [PCI_EXT_CAP_ID_DLF]: 'Data Link Feature',
  [PCI_EXT_CAP_ID_PL_16GT]: 'Physical Layer 16.0 GT/s',
  [PCI_EXT_CAP_ID_NPEM]: 'Native PCIe Enclosure Management',
  [PCI_EXT_CAP_ID_PL_32GT]: 'Physical Layer 32.0 GT/s',
  [PCI_EXT_CAP_ID_DOE]: 'Data Object Exchange',
  [PCI_EXT_CAP_ID_DEV3]: 'Device 3',
  [PCI_EXT_CAP_ID_IDE]: 'Integrity and Data Encryption',
  [PCI_EXT_CAP_ID_PL_64GT]: 'Physical Layer 64.0 GT/s',
}

const EXPRESS_TYPES: Record<number, ExpressType> = {
  [PCI_EXP_TYPE_ENDPOINT]: 'endpoint',
  [PCI_EXP_TYPE_LEG_END]: 'legacy-endpoint',
  [PCI_EXP_TYPE_ROOT_PORT]: 'root-port',
  [PCI_EXP_TYPE_UPSTREAM]: 'upstream-port',
  [PCI_EXP_TYPE_DOWNSTREAM]: 'downstream-port',
  [PCI_EXP_TYPE_PCI_BRIDGE]: 'pcie-to-pci-bridge',
  [PCI_EXP_TYPE_PCIE_BRIDGE]: 'pci-to-pcie-bridge',
  [PCI_EXP_TYPE_RC_END]: 'rc-integrated-endpoint',
  [PCI_EXP_TYPE_RC_EC]: 'rc-event-collector',
}

const UNREADABLE_CAPABILITY_LIST = 'capability list'
const UNREADABLE_EXTENDED = 'extended capabilities (ACS, ATS, PRI, PASID, ARI, SR-IOV)'

/** A read of config space that would go past the buffer; caught where a capability is decoded. */
class PastEnd extends Error {}

class Regs {
  constructor(private readonly buf: Buffer) {}

  fits(offset: number, size: number): boolean {
    return offset >= 0 && offset + size <= this.buf.length
  }

  u8(offset: number): number {
    if (!this.fits(offset, 1)) throw new PastEnd()
    return this.buf.readUInt8(offset)
  }

  u16(offset: number): number {
    if (!this.fits(offset, 2)) throw new PastEnd()
    return this.buf.readUInt16LE(offset)
  }

  u32(offset: number): number {
    if (!this.fits(offset, 4)) throw new PastEnd()
    return this.buf.readUInt32LE(offset)
  }
}

/**
 * Decodes a device's configuration space: the header, the PCIe capability, and the extended
 * capabilities an IOMMU setup depends on. buf is whatever the config file gave: 4096 bytes for
 * PCIe as root, 256 for conventional PCI, 64 for anyone else.
 *
 * @throws RangeError when buf is shorter than the 64-byte standard header every reader gets
 */
export function decodeConfigSpace(buf: Buffer): PciConfig {
  if (buf.length < PCI_STD_HEADER_SIZEOF) {
    throw new RangeError(
      `config space is ${buf.length} bytes, less than the ${PCI_STD_HEADER_SIZEOF}-byte header`,
    )
  }
  const regs = new Regs(buf)
  const headerByte = regs.u8(PCI_HEADER_TYPE)
  const headerType = headerByte & PCI_HEADER_TYPE_MASK
  const unreadable: string[] = []

  const standard = walkCapabilities(regs, headerType)
  if (standard.truncated) unreadable.push(UNREADABLE_CAPABILITY_LIST)
  const express = decodeAt(regs, standard.first.get(PCI_CAP_ID_EXP), 'PCI Express', unreadable, decodeExpress)

  // pci_find_next_ext_capability looks above 256 only when cfg_size says there is more there. A
  // PCIe device (or one whose list was cut off) given no more than 256 bytes has extended
  // capabilities that cannot be seen.
  const extended =
    buf.length > PCI_CFG_SPACE_SIZE ? walkExtendedCapabilities(regs) : emptyWalk<ExtendedCapabilityEntry>()
  const mayHaveExtended = standard.first.has(PCI_CAP_ID_EXP) || standard.truncated
  if (extended.truncated || (buf.length <= PCI_CFG_SPACE_SIZE && mayHaveExtended)) {
    unreadable.push(UNREADABLE_EXTENDED)
  }
  const ext = <T>(id: number, label: string, decode: (regs: Regs, pos: number) => T) =>
    decodeAt(regs, extended.first.get(id), label, unreadable, decode)

  const acs = ext(PCI_EXT_CAP_ID_ACS, 'ACS', decodeAcs)
  const ats = ext(PCI_EXT_CAP_ID_ATS, 'ATS', decodeAts)
  const pri = ext(PCI_EXT_CAP_ID_PRI, 'PRI', decodePri)
  const pasid = ext(PCI_EXT_CAP_ID_PASID, 'PASID', decodePasid)
  const ari = ext(PCI_EXT_CAP_ID_ARI, 'ARI', decodeAri)
  const sriov = ext(PCI_EXT_CAP_ID_SRIOV, 'SR-IOV', decodeSriov)
  return {
    length: buf.length,
    complete: buf.length >= PCI_CFG_SPACE_SIZE && unreadable.length === 0,
    headerType,
    multifunction: (headerByte & PCI_HEADER_TYPE_MFD) !== 0,
    express,
    acs,
    ats,
    pri,
    pasid,
    ari,
    sriov,
    capabilities: standard.entries,
    extendedCapabilities: extended.entries,
    unreadable,
  }
}

interface Walk<E> {
  entries: E[]
  /** The first offset of each id: the one pci_find_capability and pci_find_ext_capability return. */
  first: Map<number, number>
  /** The chain led past the end of the buffer. */
  truncated: boolean
}

const emptyWalk = <E>(): Walk<E> => ({entries: [], first: new Map(), truncated: false})

/** PCI_FIND_NEXT_CAP: pointers below the header end the list, as does id 0xff (a read of all ones). */
function walkCapabilities(regs: Regs, headerType: number): Walk<CapabilityEntry> {
  const walk = emptyWalk<CapabilityEntry>()
  if (!(regs.u16(PCI_STATUS) & PCI_STATUS_CAP_LIST)) return walk
  const start =
    headerType === PCI_HEADER_TYPE_NORMAL || headerType === PCI_HEADER_TYPE_BRIDGE
      ? PCI_CAPABILITY_LIST
      : headerType === PCI_HEADER_TYPE_CARDBUS
        ? PCI_CB_CAPABILITY_LIST
        : null
  if (start === null) return walk

  const seen = new Set<number>()
  let pos = regs.u8(start)
  for (let ttl = PCI_FIND_CAP_TTL; ttl > 0 && pos >= PCI_STD_HEADER_SIZEOF; ttl--) {
    pos &= ~3
    if (seen.has(pos)) break
    seen.add(pos)
    if (!regs.fits(pos, 2)) {
      walk.truncated = true
      break
    }
    const id = regs.u8(pos + PCI_CAP_LIST_ID)
    if (id === 0xff) break
    walk.entries.push({id: hexWidth(id, 2), name: CAPABILITY_NAMES[id] ?? null, offset: hexWidth(pos, 2)})
    if (!walk.first.has(id)) walk.first.set(id, pos)
    pos = regs.u8(pos + PCI_CAP_LIST_NEXT)
  }
  return walk
}

/** PCI_FIND_NEXT_EXT_CAP: starts at 256, ends on a zero header or a pointer back below 256. */
function walkExtendedCapabilities(regs: Regs): Walk<ExtendedCapabilityEntry> {
  const walk = emptyWalk<ExtendedCapabilityEntry>()
  const seen = new Set<number>()
  let pos = PCI_CFG_SPACE_SIZE
  for (let ttl = PCI_FIND_EXT_CAP_TTL; ttl > 0 && pos >= PCI_CFG_SPACE_SIZE; ttl--) {
    if (seen.has(pos)) break
    seen.add(pos)
    if (!regs.fits(pos, 4)) {
      walk.truncated = true
      break
    }
    const header = regs.u32(pos)
    // All ones is a failed read (no device answering), not a capability.
    if (header === 0 || header === 0xffffffff) break
    const id = PCI_EXT_CAP_ID(header)
    walk.entries.push({
      id: hexWidth(id, 4),
      name: EXTENDED_CAPABILITY_NAMES[id] ?? null,
      offset: hexWidth(pos, 3),
      version: PCI_EXT_CAP_VER(header),
    })
    if (!walk.first.has(id)) walk.first.set(id, pos)
    pos = PCI_EXT_CAP_NEXT(header)
  }
  return walk
}

/** Decodes the capability at pos, or records it as unreadable when its registers run past the buffer. */
function decodeAt<T>(
  regs: Regs,
  pos: number | undefined,
  label: string,
  unreadable: string[],
  decode: (regs: Regs, pos: number) => T,
): T | null {
  if (pos === undefined) return null
  try {
    return decode(regs, pos)
  } catch (error) {
    if (!(error instanceof PastEnd)) throw error
    unreadable.push(`${label} at ${hexWidth(pos, 2)}`)
    return null
  }
}

function decodeExpress(regs: Regs, pos: number): Express {
  const flags = regs.u16(pos + PCI_EXP_FLAGS)
  return {
    type: EXPRESS_TYPES[(flags & PCI_EXP_FLAGS_TYPE) >> 4] ?? null,
    version: flags & PCI_EXP_FLAGS_VERS,
    slotImplemented: (flags & PCI_EXP_FLAGS_SLOT) !== 0,
  }
}

function acsBits(w: number): AcsBits {
  return {
    sv: (w & PCI_ACS_SV) !== 0,
    tb: (w & PCI_ACS_TB) !== 0,
    rr: (w & PCI_ACS_RR) !== 0,
    cr: (w & PCI_ACS_CR) !== 0,
    uf: (w & PCI_ACS_UF) !== 0,
    ec: (w & PCI_ACS_EC) !== 0,
    dt: (w & PCI_ACS_DT) !== 0,
  }
}

function decodeAcs(regs: Regs, pos: number): Acs {
  return {capabilities: acsBits(regs.u16(pos + PCI_ACS_CAP)), control: acsBits(regs.u16(pos + PCI_ACS_CTRL))}
}

function decodeAts(regs: Regs, pos: number): Ats {
  const cap = regs.u16(pos + PCI_ATS_CAP)
  const ctrl = regs.u16(pos + PCI_ATS_CTRL)
  return {
    enabled: (ctrl & PCI_ATS_CTRL_ENABLE) !== 0,
    // pci_ats_queue_depth: a depth field of 0 means the maximum.
    invalidateQueueDepth: PCI_ATS_CAP_QDEP(cap) || PCI_ATS_MAX_QDEP,
    pageAligned: (cap & PCI_ATS_CAP_PAGE_ALIGNED) !== 0,
    globalInvalidate: (cap & PCI_ATS_CAP_GLOBAL_INV) !== 0,
    smallestTranslationUnit: 2 ** (PCI_ATS_MIN_STU + PCI_ATS_CTRL_STU(ctrl)),
  }
}

function decodePri(regs: Regs, pos: number): Pri {
  return {
    enabled: (regs.u16(pos + PCI_PRI_CTRL) & PCI_PRI_CTRL_ENABLE) !== 0,
    outstandingRequestCapacity: regs.u32(pos + PCI_PRI_MAX_REQ),
    outstandingRequestAllocation: regs.u32(pos + PCI_PRI_ALLOC_REQ),
    pasidRequired: (regs.u16(pos + PCI_PRI_STATUS) & PCI_PRI_STATUS_PASID) !== 0,
  }
}

function decodePasid(regs: Regs, pos: number): Pasid {
  const cap = regs.u16(pos + PCI_PASID_CAP)
  const ctrl = regs.u16(pos + PCI_PASID_CTRL)
  return {
    enabled: (ctrl & PCI_PASID_CTRL_ENABLE) !== 0,
    width: (cap & PCI_PASID_CAP_WIDTH) >> 8,
    execute: (cap & PCI_PASID_CAP_EXEC) !== 0,
    privileged: (cap & PCI_PASID_CAP_PRIV) !== 0,
    executeEnabled: (ctrl & PCI_PASID_CTRL_EXEC) !== 0,
    privilegedEnabled: (ctrl & PCI_PASID_CTRL_PRIV) !== 0,
  }
}

function decodeAri(regs: Regs, pos: number): Ari {
  const cap = regs.u16(pos + PCI_ARI_CAP)
  const ctrl = regs.u16(pos + PCI_ARI_CTRL)
  return {
    nextFunction: PCI_ARI_CAP_NFN(cap),
    mfvcGroups: (cap & PCI_ARI_CAP_MFVC) !== 0,
    acsGroups: (cap & PCI_ARI_CAP_ACS) !== 0,
    mfvcGroupsEnabled: (ctrl & PCI_ARI_CTRL_MFVC) !== 0,
    acsGroupsEnabled: (ctrl & PCI_ARI_CTRL_ACS) !== 0,
    functionGroup: PCI_ARI_CTRL_FG(ctrl),
  }
}

function decodeSriov(regs: Regs, pos: number): Sriov {
  const ctrl = regs.u16(pos + PCI_SRIOV_CTRL)
  return {
    totalVfs: regs.u16(pos + PCI_SRIOV_TOTAL_VF),
    initialVfs: regs.u16(pos + PCI_SRIOV_INITIAL_VF),
    numVfs: regs.u16(pos + PCI_SRIOV_NUM_VF),
    vfOffset: regs.u16(pos + PCI_SRIOV_VF_OFFSET),
    vfStride: regs.u16(pos + PCI_SRIOV_VF_STRIDE),
    vfDeviceId: hexWidth(regs.u16(pos + PCI_SRIOV_VF_DID), 4),
    enabled: (ctrl & PCI_SRIOV_CTRL_VFE) !== 0,
    ariHierarchy: (ctrl & PCI_SRIOV_CTRL_ARI) !== 0,
    migrationCapable: (regs.u32(pos + PCI_SRIOV_CAP) & PCI_SRIOV_CAP_VFM) !== 0,
  }
}
