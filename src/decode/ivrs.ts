// Decodes the ACPI IVRS table (AMD I/O Virtualization Technology specification 48882, section
// "I/O Virtualization Reporting Structure"), with the field layout of ACPICA's
// include/acpi/actbl2.h (struct acpi_table_ivrs, acpi_ivrs_hardware_*, acpi_ivrs_de_*,
// acpi_ivrs_memory) and the walk of drivers/iommu/amd/init.c (ivhd_entry_length,
// init_iommu_from_acpi, init_unity_map_range, get_highest_supported_ivhd_type).

import {Bdf, hex, Hex, ridBdf} from '../records.js'
import {
  ACPI_HEADER_LENGTH,
  AcpiHeader,
  decodeAcpiHeader,
  hex64,
  hexOffset,
  text,
  walkRecords,
} from './acpi.js'
import {AmdViFeatures, decodeAmdViEfr} from './amdvi.js'

/** IVinfo: what the whole platform supports. */
export interface IvrsInfo {
  raw: Hex
  /** EFRSup: the IVHD 11h/40h EFR images are valid. */
  efrSup: boolean
  /** DMA remapping support: firmware protected DMA before the OS (pre-boot DMA protection). */
  dmaRemap: boolean
  /** Guest virtual address size, as the 3-bit code (2 = 48 bits). */
  gvaSize: number
  /** Physical address size in bits. */
  paSize: number
  /** Virtual address size in bits. */
  vaSize: number
  /** HtAtsResv: the HyperTransport ATS-reserved range is not used. */
  htAtsResv: boolean
}

/** The IVHD device entry types (IVHD_DEV_* in amd_iommu_types.h). */
export type IvhdEntryKind =
  | 'padding'
  | 'all'
  | 'select'
  | 'range-start'
  | 'range-end'
  | 'alias-select'
  | 'alias-range-start'
  | 'extended-select'
  | 'extended-range-start'
  | 'special'
  | 'acpi-hid'
  | 'unknown'

const ENTRY_KINDS: Record<number, IvhdEntryKind> = {
  0x00: 'padding',
  0x01: 'all',
  0x02: 'select',
  0x03: 'range-start',
  0x04: 'range-end',
  0x42: 'alias-select',
  0x43: 'alias-range-start',
  0x46: 'extended-select',
  0x47: 'extended-range-start',
  0x48: 'special',
  0xf0: 'acpi-hid',
}

/** One IVHD device entry. */
export interface IvhdDeviceEntry {
  offset: number
  type: number
  kind: IvhdEntryKind
  length: number
  /** The device (or first of a range) the entry names, in the IVHD's segment. */
  device: Bdf
  /** DTE settings: INITPass, EIntPass, NMIPass, SysMgt, Lint0Pass, Lint1Pass bits. */
  data: number
  /** For a range start: the last device, from the range-end entry that closes it; null if none does. */
  rangeEnd: Bdf | null
  /** For alias entries: the requester ID the devices use on the bus. */
  alias: Bdf | null
  /** For extended entries: the extended DTE setting (bit 31: ATS disabled). */
  extended: Hex | null
  /** For a special entry: an IOAPIC or HPET, its id (handle) and the requester ID it uses. */
  special: {variety: 'ioapic' | 'hpet' | 'unknown'; handle: number; source: Bdf} | null
  /** For an ACPI HID entry: the ACPI device it names. */
  acpi: {hid: string; cid: string; uidType: number; uid: string} | null
}

/** I/O Virtualization Hardware Definition (types 10h, 11h, 40h): one IOMMU. */
export interface IvrsIvhd {
  kind: 'IVHD'
  offset: number
  type: number
  length: number
  flags: number
  /** HtTunEn, PassPW, ResPassPW, Isoc, IotlbSup, Coherent, PrefSup, PPRSup: the set ones, by name. */
  flagNames: string[]
  /** The IOMMU's own PCI function. */
  iommu: Bdf
  capabilityOffset: number
  base: Hex
  segment: number
  /** IOMMU info: MSI number (bits 4:0) and UnitID (bits 12:8). */
  info: number
  /** Type 10h: IOMMU Feature Reporting; 11h and 40h: IOMMU Attributes. */
  attributes: Hex
  /** Types 11h and 40h: the EFR image the kernel uses instead of reading the register. */
  efr: Hex | null
  efr2: Hex | null
  efrFeatures: AmdViFeatures | null
  entries: IvhdDeviceEntry[]
}

/** I/O Virtualization Memory Definition (types 20h all, 21h select, 22h range). */
export interface IvrsIvmd {
  kind: 'IVMD'
  offset: number
  type: number
  length: number
  flags: number
  /** Unity: the range is mapped 1:1 for the devices covered. */
  unity: boolean
  read: boolean
  write: boolean
  /** ExclusionRange: the devices' DMA to the range is not translated at all. */
  exclusion: boolean
  covers: 'all' | 'select' | 'range'
  segment: number
  /** The device (select) or first device (range); null for all. */
  device: Bdf | null
  /** The last device of a range; null otherwise. */
  rangeEnd: Bdf | null
  start: Hex
  size: Hex
}

export interface IvrsUnknown {
  kind: 'unknown'
  offset: number
  type: number
  length: number
}

export type IvrsStructure = IvrsIvhd | IvrsIvmd | IvrsUnknown

export interface IvrsTable {
  header: AcpiHeader | null
  info: IvrsInfo | null
  structures: IvrsStructure[]
  /**
   * The IVHD type the kernel uses: the highest of 10h, 11h, 40h given for the first IOMMU
   * (get_highest_supported_ivhd_type); blocks of the other types are for older kernels.
   */
  ivhdTypeUsed: number | null
  problems: string[]
}

const IVRS_FIXED_LENGTH = 48
/** Revision 1: IVHD 10h only; 2: 10h, 11h and 40h ("mixed format"). */
const KNOWN_REVISIONS = [1, 2]
const IVHD_LENGTH: Record<number, number> = {0x10: 24, 0x11: 40, 0x40: 40}
const IVMD_LENGTH = 32
const IVHD_FLAGS = ['HtTunEn', 'PassPW', 'ResPassPW', 'Isoc', 'IotlbSup', 'Coherent', 'PrefSup', 'PPRSup']

/** A 16-bit requester ID of the segment as a BDF. */
export function ivrsBdf(segment: number, id: number): Bdf {
  return ridBdf(segment, id)
}

/** The 16-bit requester ID (bus, device, function) of a BDF, as IVRS device entries hold it. */
export function requesterId(bdf: Bdf): number {
  const bus = Number.parseInt(bdf.slice(5, 7), 16)
  const dev = Number.parseInt(bdf.slice(8, 10), 16)
  return (bus << 8) | (dev << 3) | Number(bdf.slice(11))
}

export function decodeIvrs(bytes: Buffer): IvrsTable {
  const problems: string[] = []
  const table: IvrsTable = {header: null, info: null, structures: [], ivhdTypeUsed: null, problems}
  const decoded = decodeAcpiHeader(bytes, problems)
  if (!decoded) return table
  const {header, body} = decoded
  table.header = header
  if (header.signature !== 'IVRS') problems.push(`signature "${header.signature}" is not IVRS`)
  if (!KNOWN_REVISIONS.includes(header.revision))
    problems.push(
      `revision ${header.revision} is not one the AMD IOMMU specification defines (1, 2): decoded as revision 2`,
    )
  if (body.length < ACPI_HEADER_LENGTH + 4) {
    problems.push(
      `short table: ${body.length} bytes, fewer than the ${IVRS_FIXED_LENGTH} of the IVRS's fixed fields`,
    )
    return table
  }
  table.info = decodeInfo(body.readUInt32LE(36))
  if (body.length < IVRS_FIXED_LENGTH) {
    problems.push(
      `short table: ${body.length} bytes, fewer than the ${IVRS_FIXED_LENGTH} of the IVRS's fixed fields`,
    )
    return table
  }
  walkRecords(
    body,
    IVRS_FIXED_LENGTH,
    'IVRS block',
    4,
    (o) => body.readUInt16LE(o + 2),
    problems,
    (offset, length) =>
      table.structures.push(block(body.subarray(offset, offset + length), offset, problems)),
  )
  const ivhds = table.structures.filter((s): s is IvrsIvhd => s.kind === 'IVHD')
  const first = ivhds[0]
  if (first) {
    table.ivhdTypeUsed = Math.max(
      ...ivhds.filter((h) => h.iommu === first.iommu && h.segment === first.segment).map((h) => h.type),
    )
  }
  return table
}

function decodeInfo(raw: number): IvrsInfo {
  return {
    raw: hex(raw),
    efrSup: (raw & 1) !== 0,
    dmaRemap: (raw & 2) !== 0,
    gvaSize: (raw >> 5) & 7,
    paSize: (raw >> 8) & 0x7f,
    vaSize: (raw >> 15) & 0x7f,
    htAtsResv: (raw & (1 << 22)) !== 0,
  }
}

function block(b: Buffer, offset: number, problems: string[]): IvrsStructure {
  const type = b.readUInt8(0)
  const base = {offset, type, length: b.length}
  const fixed = IVHD_LENGTH[type] ?? (type >= 0x20 && type <= 0x22 ? IVMD_LENGTH : undefined)
  if (fixed === undefined) return {...base, kind: 'unknown'}
  if (b.length < fixed) {
    problems.push(
      `block of type 0x${type.toString(16)} at offset ${hexOffset(offset)} has length ${b.length}, fewer than its ${fixed} bytes of fields: kept as unknown`,
    )
    return {...base, kind: 'unknown'}
  }
  return IVHD_LENGTH[type] ? ivhd(b, base, fixed, problems) : ivmd(b, base)
}

function ivhd(
  b: Buffer,
  base: {offset: number; type: number; length: number},
  fixed: number,
  problems: string[],
): IvrsIvhd {
  const segment = b.readUInt16LE(16)
  const extended = base.type !== 0x10
  const efr = extended ? b.readBigUInt64LE(24) : null
  const efr2 = extended ? b.readBigUInt64LE(32) : null
  return {
    ...base,
    kind: 'IVHD',
    flags: b.readUInt8(1),
    flagNames: IVHD_FLAGS.filter((_, i) => (b.readUInt8(1) & (1 << i)) !== 0),
    iommu: ivrsBdf(segment, b.readUInt16LE(4)),
    capabilityOffset: b.readUInt16LE(6),
    base: hex64(b, 8),
    segment,
    info: b.readUInt16LE(18),
    attributes: hex(b.readUInt32LE(20)),
    efr: efr === null ? null : hex(efr),
    efr2: efr2 === null ? null : hex(efr2),
    efrFeatures: efr === null || efr2 === null ? null : decodeAmdViEfr(efr, efr2),
    entries: deviceEntries(b, fixed, base.offset, segment, problems),
  }
}

/** ivhd_entry_length: 4 or 8 bytes by the type's top bits, an ACPI HID entry 22 plus its UID. */
function entryLength(b: Buffer, o: number): number | null {
  const type = b.readUInt8(o)
  if (type < 0x80) return 4 << (type >> 6)
  if (type === 0xf0) return o + 21 < b.length ? 22 + b.readUInt8(o + 21) : null
  return null
}

function deviceEntries(
  b: Buffer,
  start: number,
  blockOffset: number,
  segment: number,
  problems: string[],
): IvhdDeviceEntry[] {
  const out: IvhdDeviceEntry[] = []
  let open: IvhdDeviceEntry | null = null
  let o = start
  while (o < b.length) {
    const at = hexOffset(blockOffset + o)
    const length = entryLength(b, o)
    if (length === null) {
      problems.push(
        `IVHD device entry of type 0x${b.readUInt8(o).toString(16)} at offset ${at} has no defined length: the rest of this IVHD is not decoded`,
      )
      break
    }
    if (o + length > b.length) {
      problems.push(
        `IVHD device entry at offset ${at} claims ${length} bytes, past the end of its IVHD: the rest of this IVHD is not decoded`,
      )
      break
    }
    const type = b.readUInt8(o)
    const kind = ENTRY_KINDS[type] ?? 'unknown'
    const id = b.readUInt16LE(o + 1)
    const entry: IvhdDeviceEntry = {
      offset: blockOffset + o,
      type,
      kind,
      length,
      device: ivrsBdf(segment, id),
      data: b.readUInt8(o + 3),
      rangeEnd: null,
      alias: null,
      extended: null,
      special: null,
      acpi: null,
    }
    if (kind === 'alias-select' || kind === 'alias-range-start')
      entry.alias = ivrsBdf(segment, b.readUInt16LE(o + 5))
    if (kind === 'extended-select' || kind === 'extended-range-start')
      entry.extended = hex(b.readUInt32LE(o + 4))
    if (kind === 'special') {
      const variety = b.readUInt8(o + 7) === 1 ? 'ioapic' : b.readUInt8(o + 7) === 2 ? 'hpet' : 'unknown'
      entry.special = {variety, handle: b.readUInt8(o + 4), source: ivrsBdf(segment, b.readUInt16LE(o + 5))}
    }
    if (kind === 'acpi-hid') {
      entry.acpi = {
        hid: text(b, o + 4, 8),
        cid: text(b, o + 12, 8),
        uidType: b.readUInt8(o + 20),
        uid: text(b, o + 22, b.readUInt8(o + 21)),
      }
    }
    if (kind === 'range-start' || kind === 'alias-range-start' || kind === 'extended-range-start')
      open = entry
    else if (kind === 'range-end') {
      if (open) open.rangeEnd = entry.device
      open = null
    }
    out.push(entry)
    o += length
  }
  return out
}

function ivmd(b: Buffer, base: {offset: number; type: number; length: number}): IvrsIvmd {
  const flags = b.readUInt8(1)
  const segment = b.readUInt16LE(8)
  const covers = base.type === 0x20 ? 'all' : base.type === 0x21 ? 'select' : 'range'
  return {
    ...base,
    kind: 'IVMD',
    flags,
    unity: (flags & 1) !== 0,
    read: (flags & 2) !== 0,
    write: (flags & 4) !== 0,
    exclusion: (flags & 8) !== 0,
    covers,
    segment,
    device: covers === 'all' ? null : ivrsBdf(segment, b.readUInt16LE(4)),
    rangeEnd: covers === 'range' ? ivrsBdf(segment, b.readUInt16LE(6)) : null,
    start: hex64(b, 16),
    size: hex64(b, 24),
  }
}
