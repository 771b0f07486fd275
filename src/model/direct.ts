// Direct-mapped (1:1) regions: the firmware's DMAR RMRRs and IVRS IVMDs that name a device, and
// what the kernel made of them in the group's reserved_regions. The rule that matters is
// drivers/iommu/iommu.c's require_direct: a device with an IOMMU_RESV_DIRECT region cannot be put
// in a blocking or VFIO/iommufd domain. Intel's RMRRs for USB and graphics devices come as
// IOMMU_RESV_DIRECT_RELAXABLE instead (intel/iommu.c device_rmrr_is_relaxable), which VFIO may take.

import {IommuctlError} from '../errors.js'
import {requesterId} from '../decode/ivrs.js'
import {Bdf, Hex} from '../records.js'
import {GROUPS_DIR} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'
import {DeviceRecord} from './devices.js'
import {FirmwareRecord, readFirmware} from './firmware.js'
import {GroupRecord, parseReservedRegions, ReservedRegion} from './groups.js'
import {DeviceHolders, deviceHolders} from './holders.js'
import {MdevDetail} from './mdevs.js'
import {PciTopology} from './topology.js'

/** One RMRR or IVMD that names some of the devices asked about. */
export interface FirmwareRegion {
  structure: 'RMRR' | 'IVMD'
  /** The table it is in (DMAR, IVRS, DMAR1 ...) and its offset there, as `iommuctl firmware` shows it. */
  table: string
  offset: number
  start: Hex
  /** The last byte of the range (inclusive). */
  end: Hex
  /** The devices asked about that the structure covers. */
  devices: Bdf[]
  /**
   * Whether the kernel relaxes it: an RMRR of USB or graphics devices only (their class,
   * device_rmrr_is_relaxable). IVMD unity ranges are never relaxed (amd/iommu.c gives IOMMU_RESV_DIRECT).
   */
  relaxable: boolean
}

/** `devices show` and `groups show`: the 1:1 regions the firmware asks for and what follows for VFIO. */
export interface DirectMapping {
  firmware: FirmwareRegion[]
  /** The group's reserved regions of type direct and direct-relaxable. */
  reserved: ReservedRegion[]
  /** A `direct` reserved region: the kernel requires a 1:1 mapping and refuses VFIO and iommufd domains. */
  requiresDirect: boolean
  /** What follows, in a sentence; null when nothing is mapped 1:1. */
  summary: string | null
  /** What could not be read (a firmware table refused), or why the firmware is not consulted. */
  notes: string[]
}

/** The kernel's message when it refuses, since 6.x and before (drivers/iommu/iommu.c, intel/iommu.c). */
export const REQUIRE_DIRECT_MESSAGES = [
  'Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping',
  'Device is ineligible for IOMMU domain attach due to platform RMRR requirement',
]

const PCI_CLASS_SERIAL_USB = 0x0c03
const PCI_BASE_CLASS_DISPLAY = 0x03

/** device_rmrr_is_relaxable: IS_USB_DEVICE or IS_GFX_DEVICE by the class code. */
export function rmrrRelaxable(classCode: number | null): boolean {
  if (classCode === null) return false
  return classCode >> 8 === PCI_CLASS_SERIAL_USB || classCode >> 16 === PCI_BASE_CLASS_DISPLAY
}

/** The firmware tables, read once; a table the reader refuses becomes a note, not a failure of the command. */
export function firmwareForDirect(root: Root): {firmware: FirmwareRecord | null; notes: string[]} {
  try {
    return {firmware: readFirmware(root), notes: []}
  } catch (error) {
    if (error instanceof IommuctlError)
      return {firmware: null, notes: [`the firmware tables were not read: ${error.message}`]}
    // The ACPI tables are root's only (mode 0400) on a live host; the reserved regions still tell.
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM')
      return {
        firmware: null,
        notes: ['the ACPI tables are readable by root only: run as root to see which RMRR or IVMD it is'],
      }
    throw error
  }
}

const segmentOf = (bdf: Bdf) => Number.parseInt(bdf.slice(0, 4), 16)

/** The RMRRs and IVMDs (unity or exclusion: the ones amd/init.c maps) that cover any of devices. */
export function firmwareRegions(
  firmware: FirmwareRecord,
  devices: {bdf: Bdf; classCode: number | null}[],
): FirmwareRegion[] {
  const out: FirmwareRegion[] = []
  for (const t of firmware.tables) {
    for (const s of t.dmar?.structures ?? []) {
      if (s.kind !== 'RMRR') continue
      const named = new Set(s.scopes.map((sc) => sc.bdf))
      const covered = devices.filter((d) => named.has(d.bdf))
      if (covered.length === 0) continue
      out.push({
        structure: 'RMRR',
        table: t.name,
        offset: s.offset,
        start: s.base,
        end: s.end,
        devices: covered.map((d) => d.bdf),
        relaxable: covered.every((d) => rmrrRelaxable(d.classCode)),
      })
    }
    for (const s of t.ivrs?.structures ?? []) {
      if (s.kind !== 'IVMD' || !(s.unity || s.exclusion)) continue
      const covered = devices.filter((d) => {
        if (segmentOf(d.bdf) !== s.segment) return false
        if (s.covers === 'all') return true
        const id = requesterId(d.bdf)
        if (s.covers === 'select') return s.device !== null && id === requesterId(s.device)
        return (
          s.device !== null &&
          s.rangeEnd !== null &&
          id >= requesterId(s.device) &&
          id <= requesterId(s.rangeEnd)
        )
      })
      if (covered.length === 0) continue
      out.push({
        structure: 'IVMD',
        table: t.name,
        offset: s.offset,
        start: s.start,
        end: `0x${(BigInt(s.start) + BigInt(s.size) - 1n).toString(16)}`,
        devices: covered.map((d) => d.bdf),
        relaxable: false,
      })
    }
  }
  return out
}

/** What the firmware regions and the group's reserved regions mean together. */
export function directMapping(
  firmware: FirmwareRegion[],
  groupRegions: ReservedRegion[],
  notes: string[] = [],
): DirectMapping {
  const reserved = groupRegions.filter((r) => r.type === 'direct' || r.type === 'direct-relaxable')
  const direct = reserved.filter((r) => r.type === 'direct')
  const requiresDirect = direct.length > 0
  const ranges = (rs: ReservedRegion[]) => rs.map((r) => `${r.start}-${r.end}`).join(', ')
  const named = firmware.length
    ? `, from the ${firmware.map((f) => `${f.structure} at ${f.table}+0x${f.offset.toString(16)} for ${f.devices.join(', ')}`).join(' and the ')}`
    : ''
  let summary: string | null = null
  if (requiresDirect) {
    summary = `the group has a direct reserved region ${ranges(direct)}${named}: the kernel requires a 1:1 mapping for it and refuses to give the group to VFIO or iommufd ("${REQUIRE_DIRECT_MESSAGES[0]}"; older kernels: "${REQUIRE_DIRECT_MESSAGES[1]}")`
  } else if (reserved.length) {
    summary = `the group's direct regions are relaxable: ${ranges(reserved)}${named}; the kernel maps them 1:1 in its own domain but lets VFIO take the device; the firmware's use of the range (USB legacy emulation, a graphics frame buffer) stops while it is assigned`
  } else if (firmware.length) {
    summary = `the firmware asks for 1:1 mappings${named}; but the group has no direct reserved region: the kernel did not report them for this group, so they do not keep VFIO from it`
  }
  return {firmware, reserved, requiresDirect, summary, notes}
}

/** `iommuctl devices show --json`: the device, and the 1:1 regions that bind it. */
export interface DeviceDetail extends DeviceRecord {
  directMapping: DirectMapping
  /** Processes with its cdev, its group node or one of its sysfs files open. */
  heldBy: DeviceHolders
}

/** `iommuctl devices show --json`: a PCI device, or a mediated device (by UUID). */
export type DeviceShown = DeviceDetail | MdevDetail

/** `iommuctl groups show --json`: the group, and the 1:1 regions of its devices. */
export interface GroupDetail extends GroupRecord {
  directMapping: DirectMapping
  /** Processes with the group node, or a cdev or sysfs file of one of its devices, open. */
  heldBy: DeviceHolders
}

export function deviceDetail(root: Root, topology: PciTopology, d: DeviceRecord): DeviceDetail {
  const regions = d.group === null ? [] : groupReservedRegions(root, d.group)
  return {
    ...d,
    directMapping: mappingOf(root, topology, [d.bdf], regions, firmwareForDirect(root)),
    heldBy: holdersOf(root, topology, [d.bdf], d.group),
  }
}

export function groupDetail(root: Root, topology: PciTopology, g: GroupRecord): GroupDetail {
  const bdfs = g.devices.map((d) => d.bdf)
  return {
    ...g,
    directMapping: mappingOf(root, topology, bdfs, g.reservedRegions, firmwareForDirect(root)),
    heldBy: holdersOf(root, topology, bdfs, g.id),
  }
}

/** Who holds the devices' cdevs, their group's node or their sysfs files. */
function holdersOf(root: Root, topology: PciTopology, bdfs: Bdf[], group: number | null): DeviceHolders {
  if (!root.isLive) return deviceHolders(root, [])
  const nodes = bdfs.map((b) => topology.get(b)?.sysfs.vfioCdev).filter((c): c is string => !!c)
  if (group !== null) nodes.push(`/dev/vfio/${group}`)
  const dirs = bdfs.map((b) => topology.get(b)?.sysfs.sysfsPath).filter((p): p is string => !!p)
  return deviceHolders(root, nodes, dirs)
}

export const groupReservedRegions = (root: Root, group: number): ReservedRegion[] =>
  parseReservedRegions(root.readText(`${GROUPS_DIR}/${group}/reserved_regions`))

/** The direct mapping of these devices, with the group's reserved regions and the firmware read once. */
export function mappingOf(
  root: Root,
  topology: PciTopology,
  bdfs: Bdf[],
  regions: ReservedRegion[],
  fw: {firmware: FirmwareRecord | null; notes: string[]},
): DirectMapping {
  const devices = bdfs.map((bdf) => ({bdf, classCode: topology.brief(bdf)?.classCode ?? null}))
  return directMapping(fw.firmware ? firmwareRegions(fw.firmware, devices) : [], regions, fw.notes)
}

/** The groups with a direct or direct-relaxable reserved region, each with what follows (status, bind). */
export function directGroups(
  root: Root,
  topology: PciTopology,
  groups: {id: number; devices: Bdf[]}[],
): {id: number; path: string; mapping: DirectMapping}[] {
  const found = groups
    .map((g) => ({g, regions: groupReservedRegions(root, g.id)}))
    .filter(({regions}) => regions.some((r) => r.type === 'direct' || r.type === 'direct-relaxable'))
  if (found.length === 0) return []
  const fw = firmwareForDirect(root)
  return found.map(({g, regions}) => ({
    id: g.id,
    path: `${GROUPS_DIR}/${g.id}/reserved_regions`,
    mapping: mappingOf(root, topology, g.devices, regions, fw),
  }))
}
