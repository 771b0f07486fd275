// Decodes the ACPI DMAR table (Intel VT-d specification, chapter 8 "BIOS Considerations"), with
// the field layout of ACPICA's include/acpi/actbl1.h (struct acpi_table_dmar and its subtables)
// and the walk of drivers/iommu/intel/dmar.c (dmar_walk_remapping_entries, dmar_insert_dev_scope).

import {bdf, Bdf, Hex} from '../records.js'
import {
  ACPI_HEADER_LENGTH,
  AcpiHeader,
  decodeAcpiHeader,
  hex64,
  hexOffset,
  text,
  walkRecords,
} from './acpi.js'

/** One (device, function) step of a device scope's path, from the start bus down. */
export interface PciPathEntry {
  device: number
  function: number
}

/** ACPI_DMAR_SCOPE_TYPE_*: what a device scope entry names. */
export type ScopeKind = 'endpoint' | 'bridge' | 'ioapic' | 'hpet' | 'namespace' | 'unknown'
const SCOPE_KINDS: Record<number, ScopeKind> = {
  1: 'endpoint',
  2: 'bridge',
  3: 'ioapic',
  4: 'hpet',
  5: 'namespace',
}

/** A device scope entry: the path as the table gives it, and the device it leads to. */
export interface DeviceScope {
  offset: number
  type: number
  kind: ScopeKind
  length: number
  /** The IOAPIC id, HPET number or ANDD device number; 0 for PCI devices. */
  enumerationId: number
  startBus: number
  path: PciPathEntry[]
  /** The PCI function the path leads to; null when it cannot be followed (see unresolved). */
  bdf: Bdf | null
  /** Why bdf is null; null when it was resolved. */
  unresolved: string | null
}

/** Follows a scope's path to a BDF; the model passes one that reads bridges under the root. */
export type ScopeResolver = (
  segment: number,
  startBus: number,
  path: PciPathEntry[],
  kind: ScopeKind,
) => {bdf: Bdf | null; unresolved: string | null}

interface DmarBase {
  /** Offset of the structure from the start of the table. */
  offset: number
  type: number
  length: number
}

/** DMA Remapping Hardware Unit Definition (type 0): one remapping unit. */
export interface DmarDrhd extends DmarBase {
  kind: 'DRHD'
  flags: number
  /** INCLUDE_PCI_ALL: the unit covers every device of the segment no other DRHD lists. */
  includePciAll: boolean
  /** Size of the register set in bytes: 4 KiB times 2^(the Size field), VT-d 3.0 on. */
  registerSetSize: number
  segment: number
  registerBase: Hex
  scopes: DeviceScope[]
}

/** Reserved Memory Region Reporting (type 1): memory the devices in scope DMA to before and after boot. */
export interface DmarRmrr extends DmarBase {
  kind: 'RMRR'
  segment: number
  base: Hex
  /** The last byte of the region (inclusive), as the table gives it. */
  end: Hex
  scopes: DeviceScope[]
}

/** Root Port ATS Capability Reporting (type 2). */
export interface DmarAtsr extends DmarBase {
  kind: 'ATSR'
  flags: number
  /** ALL_PORTS: every root port of the segment supports ATS. */
  allPorts: boolean
  segment: number
  scopes: DeviceScope[]
}

/** Remapping Hardware Static Affinity (type 3): the NUMA node of a unit. */
export interface DmarRhsa extends DmarBase {
  kind: 'RHSA'
  registerBase: Hex
  proximityDomain: number
}

/** ACPI Name-space Device Declaration (type 4): a non-PCI device a scope names by number. */
export interface DmarAndd extends DmarBase {
  kind: 'ANDD'
  deviceNumber: number
  name: string
}

/** SoC Integrated Address Translation Cache (type 5). */
export interface DmarSatc extends DmarBase {
  kind: 'SATC'
  flags: number
  /** ATC_REQUIRED: the devices in scope must have their ATC enabled to work. */
  atcRequired: boolean
  segment: number
  scopes: DeviceScope[]
}

/** SoC Integrated Device Property (type 6, VT-d 4.1). */
export interface DmarSidp extends DmarBase {
  kind: 'SIDP'
  segment: number
  scopes: DeviceScope[]
}

/** A structure of a type this decoder does not know, or too short for its fields: kept, never dropped. */
export interface DmarUnknown extends DmarBase {
  kind: 'unknown'
}

export type DmarStructure =
  DmarDrhd | DmarRmrr | DmarAtsr | DmarRhsa | DmarAndd | DmarSatc | DmarSidp | DmarUnknown

export interface DmarTable {
  header: AcpiHeader | null
  /** The Host Address Width field: DMA addresses are this plus one bits wide. */
  hostAddressWidth: number | null
  flags: number | null
  /** INTR_REMAP: the platform supports interrupt remapping. */
  intrRemap: boolean
  /** X2APIC_OPT_OUT: firmware asks the OS not to enable x2APIC mode. */
  x2apicOptOut: boolean
  /** DMA_CTRL_PLATFORM_OPT_IN: firmware protected DMA before the OS, and the OS should keep it on. */
  dmaCtrlPlatformOptIn: boolean
  structures: DmarStructure[]
  /** What is wrong with the table, each with where; empty for a sound table. */
  problems: string[]
}

const DMAR_FIXED_LENGTH = 48
/** Revisions of the DMAR the VT-d specification has defined. */
const KNOWN_REVISIONS = [1, 2]

/** Fixed part of each structure type, before its device scopes (actbl1.h). */
const FIXED: Record<number, [DmarStructure['kind'], number]> = {
  0: ['DRHD', 16],
  1: ['RMRR', 24],
  2: ['ATSR', 8],
  3: ['RHSA', 20],
  4: ['ANDD', 8],
  5: ['SATC', 8],
  6: ['SIDP', 8],
}

/** The resolver without a PCI tree: a one-step path names its device directly. */
export const directResolver: ScopeResolver = (segment, startBus, path) =>
  path.length === 1 && path[0]
    ? {bdf: bdfOf(segment, startBus, path[0]), unresolved: null}
    : {bdf: null, unresolved: 'a path through bridges needs their secondary bus numbers: no PCI tree given'}

export function bdfOf(segment: number, bus: number, step: PciPathEntry): Bdf {
  return bdf(segment, bus, step.device, step.function)
}

export function decodeDmar(bytes: Buffer, resolve: ScopeResolver = directResolver): DmarTable {
  const problems: string[] = []
  const table: DmarTable = {
    header: null,
    hostAddressWidth: null,
    flags: null,
    intrRemap: false,
    x2apicOptOut: false,
    dmaCtrlPlatformOptIn: false,
    structures: [],
    problems,
  }
  const decoded = decodeAcpiHeader(bytes, problems)
  if (!decoded) return table
  const {header, body} = decoded
  table.header = header
  if (header.signature !== 'DMAR') problems.push(`signature "${header.signature}" is not DMAR`)
  if (!KNOWN_REVISIONS.includes(header.revision))
    problems.push(
      `revision ${header.revision} is not one the VT-d specification defines (1, 2): decoded as revision 2`,
    )
  if (body.length < DMAR_FIXED_LENGTH) {
    problems.push(
      `short table: ${body.length} bytes, fewer than the ${DMAR_FIXED_LENGTH} of the DMAR's fixed fields`,
    )
    if (body.length > ACPI_HEADER_LENGTH) table.hostAddressWidth = body.readUInt8(36)
    if (body.length > ACPI_HEADER_LENGTH + 1) setFlags(table, body.readUInt8(37))
    return table
  }
  table.hostAddressWidth = body.readUInt8(36)
  setFlags(table, body.readUInt8(37))
  walkRecords(
    body,
    DMAR_FIXED_LENGTH,
    'DMAR structure',
    4,
    (o) => body.readUInt16LE(o + 2),
    problems,
    (offset, length) => {
      table.structures.push(structure(body.subarray(offset, offset + length), offset, resolve, problems))
    },
  )
  return table
}

function setFlags(table: DmarTable, flags: number): void {
  table.flags = flags
  table.intrRemap = (flags & 1) !== 0
  table.x2apicOptOut = (flags & 2) !== 0
  table.dmaCtrlPlatformOptIn = (flags & 4) !== 0
}

function structure(s: Buffer, offset: number, resolve: ScopeResolver, problems: string[]): DmarStructure {
  const type = s.readUInt16LE(0)
  const base = {offset, type, length: s.length}
  const known = FIXED[type]
  if (!known) return {...base, kind: 'unknown'}
  const [kind, fixed] = known
  if (s.length < fixed) {
    problems.push(
      `${kind} at offset ${hexOffset(offset)} has length ${s.length}, fewer than its ${fixed} bytes of fields: kept as unknown`,
    )
    return {...base, kind: 'unknown'}
  }
  const segment = s.readUInt16LE(6)
  const scopes = () => deviceScopes(s, fixed, offset, segment, resolve, problems)
  switch (kind) {
    case 'DRHD':
      return {
        ...base,
        kind,
        flags: s.readUInt8(4),
        includePciAll: (s.readUInt8(4) & 1) !== 0,
        registerSetSize: 4096 * 2 ** (s.readUInt8(5) & 0x0f),
        segment,
        registerBase: hex64(s, 8),
        scopes: scopes(),
      }
    case 'RMRR':
      return {...base, kind, segment, base: hex64(s, 8), end: hex64(s, 16), scopes: scopes()}
    case 'ATSR':
      return {
        ...base,
        kind,
        flags: s.readUInt8(4),
        allPorts: (s.readUInt8(4) & 1) !== 0,
        segment,
        scopes: scopes(),
      }
    case 'RHSA':
      return {...base, kind, registerBase: hex64(s, 8), proximityDomain: s.readUInt32LE(16)}
    case 'ANDD':
      return {...base, kind, deviceNumber: s.readUInt8(7), name: text(s, 8, s.length - 8)}
    case 'SATC':
      return {
        ...base,
        kind,
        flags: s.readUInt8(4),
        atcRequired: (s.readUInt8(4) & 1) !== 0,
        segment,
        scopes: scopes(),
      }
    case 'SIDP':
      return {...base, kind, segment, scopes: scopes()}
    default:
      return {...base, kind: 'unknown'}
  }
}

function deviceScopes(
  s: Buffer,
  start: number,
  structureOffset: number,
  segment: number,
  resolve: ScopeResolver,
  problems: string[],
): DeviceScope[] {
  const out: DeviceScope[] = []
  const local: string[] = []
  walkRecords(
    s,
    start,
    'device scope',
    6,
    (o) => s.readUInt8(o + 1),
    local,
    (o, length) => {
      const type = s.readUInt8(o)
      const kind = SCOPE_KINDS[type] ?? 'unknown'
      const path: PciPathEntry[] = []
      for (let p = o + 6; p + 1 < o + length; p += 2)
        path.push({device: s.readUInt8(p), function: s.readUInt8(p + 1)})
      const scope: DeviceScope = {
        offset: structureOffset + o,
        type,
        kind,
        length,
        enumerationId: s.readUInt8(o + 4),
        startBus: s.readUInt8(o + 5),
        path,
        bdf: null,
        unresolved: null,
      }
      if ((length - 6) % 2 !== 0)
        local.push(`device scope at offset ${hexOffset(scope.offset)} has an odd path length`)
      if (kind === 'namespace')
        scope.unresolved = `an ACPI namespace device (ANDD ${scope.enumerationId}), not PCI`
      else if (kind === 'unknown')
        scope.unresolved = `scope type ${type} is not one the VT-d specification defines`
      else if (path.length === 0) scope.unresolved = 'the scope has no path'
      else if (path.some((p) => p.device > 31 || p.function > 7))
        scope.unresolved = 'a path entry is out of range (device over 31 or function over 7)'
      else Object.assign(scope, resolve(segment, scope.startBus, path, kind))
      out.push(scope)
    },
  )
  // The walker names offsets within the structure; the table's problems name them within the table.
  for (const p of local) problems.push(`in the structure at offset ${hexOffset(structureOffset)}: ${p}`)
  return out
}
