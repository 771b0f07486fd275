import {bdfOf, decodeDmar, DmarTable, ScopeResolver} from '../decode/dmar.js'
import {decodeIvrs, IvrsTable} from '../decode/ivrs.js'
import {Bdf, Hex} from '../records.js'
import {readPciPlacement} from '../sysfs/pci.js'
import {Root} from '../sysfs/root.js'
import {readUnits, UnitRecord} from './units.js'

/** Where the kernel exposes the ACPI tables it booted with (drivers/acpi/sysfs.c). */
export const ACPI_TABLES_DIR = '/sys/firmware/acpi/tables'
/** DMAR and IVRS, and the DMAR1, DMAR2 ... the kernel names further tables of one signature. */
const TABLE_NAME = /^(DMAR|IVRS)([1-9][0-9]{0,2})?$/

/** One DRHD or IVHD and the unit under /sys/class/iommu the kernel made of it. */
export interface UnitMatch {
  /** Offset of the DRHD or IVHD in its table. */
  offset: number
  structure: 'DRHD' | 'IVHD'
  type: number
  base: Hex
  /** The IOMMU's own PCI function (IVHD only; a VT-d unit is not a PCI function). */
  iommu: Bdf | null
  /** The unit's name (dmar0, ivhd0); null when the kernel has none for it. */
  unit: string | null
  /** Whether the kernel reads this block (for IVRS: only the IVHD type it chose). */
  used: boolean
  /** What follows, in a sentence. */
  note: string
}

export interface FirmwareTableRecord {
  /** The table's file name: DMAR, IVRS, DMAR1 ... */
  name: string
  path: string
  signature: 'DMAR' | 'IVRS'
  dmar: DmarTable | null
  ivrs: IvrsTable | null
  units: UnitMatch[]
  /** What the kernel made of the table, in a sentence. */
  kernel: string
}

/** `iommuctl firmware --json` */
export interface FirmwareRecord {
  tables: FirmwareTableRecord[]
  /** Why there is nothing to show, or what could not be read; empty when every table was read. */
  notes: string[]
}

/** PCI_HEADER_TYPE, PCI_SECONDARY_BUS (include/uapi/linux/pci_regs.h). */
const PCI_HEADER_TYPE = 0x0e
const PCI_SECONDARY_BUS = 0x19

/**
 * Follows a device scope's path as dmar.c does (dmar_match_pci_path, and the IOAPIC/HPET
 * source-id walk of intel/irq_remapping.c): from the start bus, each step but the last is a
 * bridge whose secondary bus number, read from the same root's config space, is the next bus.
 */
export function rootResolver(root: Root): ScopeResolver {
  return (segment, startBus, path, kind) => {
    let bus = startBus
    for (const step of path.slice(0, -1)) {
      const bdf = bdfOf(segment, bus, step)
      const config = readPciPlacement(root, bdf)?.config ?? null
      if (config === null)
        return {
          bdf: null,
          unresolved: `bridge ${bdf} on the path is not a PCI device under this root (or its config space was not captured)`,
        }
      if (config.length <= PCI_SECONDARY_BUS)
        return {
          bdf: null,
          unresolved: `bridge ${bdf} on the path: only ${config.length} bytes of config space were captured`,
        }
      if ((config.readUInt8(PCI_HEADER_TYPE) & 0x7f) !== 1)
        return {
          bdf: null,
          unresolved: `${bdf} on the path is not a PCI-to-PCI bridge (header type ${config.readUInt8(PCI_HEADER_TYPE) & 0x7f})`,
        }
      bus = config.readUInt8(PCI_SECONDARY_BUS)
    }
    const last = path[path.length - 1]
    if (!last) return {bdf: null, unresolved: 'the scope has no path'}
    const bdf = bdfOf(segment, bus, last)
    // An IOAPIC or HPET is named by the requester ID it uses, not a PCI function of its own.
    if ((kind === 'endpoint' || kind === 'bridge') && !root.isDirectory(`/sys/bus/pci/devices/${bdf}`))
      return {
        bdf,
        unresolved: `no PCI device ${bdf} under this root: the kernel did not find the device the firmware names`,
      }
    return {bdf, unresolved: null}
  }
}

export function readFirmware(root: Root): FirmwareRecord {
  const notes: string[] = []
  const names = root.list(ACPI_TABLES_DIR).filter((n) => TABLE_NAME.test(n))
  const unreadable = (root.manifest?.unreadable ?? []).filter((u) =>
    TABLE_NAME.test(u.path.slice(ACPI_TABLES_DIR.length + 1)),
  )
  for (const u of unreadable) notes.push(`${u.path} was not captured: ${u.reason}`)
  if (names.length === 0 && unreadable.length === 0)
    notes.push(
      `no DMAR or IVRS under ${ACPI_TABLES_DIR}: the firmware describes no Intel or AMD IOMMU (or this is not an x86 ACPI machine)`,
    )
  const units = readUnits(root)
  const resolve = rootResolver(root)
  const tables: FirmwareTableRecord[] = []
  for (const name of names) {
    const path = `${ACPI_TABLES_DIR}/${name}`
    const bytes = root.readBytes(path)
    if (bytes === null) continue
    if (name.startsWith('DMAR')) {
      const dmar = decodeDmar(bytes, resolve)
      const matches = matchDrhds(dmar, units)
      tables.push({
        name,
        path,
        signature: 'DMAR',
        dmar,
        ivrs: null,
        units: matches,
        kernel: kernelSummary('VT-d', matches),
      })
    } else {
      const ivrs = decodeIvrs(bytes)
      const matches = matchIvhds(ivrs, units)
      tables.push({
        name,
        path,
        signature: 'IVRS',
        dmar: null,
        ivrs,
        units: matches,
        kernel: kernelSummary('AMD-Vi', matches),
      })
    }
  }
  return {tables, notes}
}

/** VT-d units show their register base in intel-iommu/address (intel/iommu.c's address_show). */
function matchDrhds(dmar: DmarTable, units: UnitRecord[]): UnitMatch[] {
  const out: UnitMatch[] = []
  for (const s of dmar.structures) {
    if (s.kind !== 'DRHD') continue
    const unit = units.find((u) => u.vtd?.address && BigInt(u.vtd.address) === BigInt(s.registerBase))
    out.push({
      offset: s.offset,
      structure: 'DRHD',
      type: s.type,
      base: s.registerBase,
      iommu: null,
      unit: unit?.name ?? null,
      used: true,
      note: unit
        ? `the kernel's ${unit.name} (intel-iommu/address ${unit.vtd?.address})`
        : `no unit in /sys/class/iommu has register base ${s.registerBase}: the kernel did not bring this unit up`,
    })
  }
  return out
}

/**
 * AMD-Vi units show no register base in sysfs (amd/init.c exposes only cap and features), but
 * each is a PCI function: the IVHD's IOMMU BDF is the directory the unit sits under.
 */
function matchIvhds(ivrs: IvrsTable, units: UnitRecord[]): UnitMatch[] {
  const out: UnitMatch[] = []
  for (const s of ivrs.structures) {
    if (s.kind !== 'IVHD') continue
    const unit = units.find((u) => u.kind === 'amd-vi' && u.pciDevice === s.iommu)
    const used = s.type === ivrs.ivhdTypeUsed
    const typeHex = (t: number | null) => `0x${(t ?? 0).toString(16)}`
    out.push({
      offset: s.offset,
      structure: 'IVHD',
      type: s.type,
      base: s.base,
      iommu: s.iommu,
      unit: unit?.name ?? null,
      used,
      note: !used
        ? `IVHD type ${typeHex(s.type)} is for older kernels: this one reads the type ${typeHex(ivrs.ivhdTypeUsed)} blocks`
        : unit
          ? `the kernel's ${unit.name} (the IOMMU at ${s.iommu})`
          : `no AMD-Vi unit in /sys/class/iommu sits at ${s.iommu}: the kernel did not bring this IOMMU up`,
    })
  }
  return out
}

function kernelSummary(what: string, matches: UnitMatch[]): string {
  const used = matches.filter((m) => m.used)
  const found = used.filter((m) => m.unit !== null)
  if (used.length === 0) return `the table describes no ${what} unit`
  if (found.length === 0)
    return `the kernel ignored this table: none of its ${used.length} units is in /sys/class/iommu (the IOMMU is off, e.g. intel_iommu=off or amd_iommu=off, or the kernel has no ${what} driver)`
  if (found.length < used.length)
    return `the kernel brought up ${found.length} of the ${used.length} units the table describes`
  return `the kernel brought up every unit the table describes (${found.map((m) => m.unit).join(', ')})`
}
