// What `iommuctl export` writes, in every format: one document read through the same models as
// status, units, groups, devices and faults. The Ansible fact is this document as JSON; the
// Prometheus and NFD renderers (src/render/prometheus.ts, src/render/nfd.ts) are functions of it.
import {amdViUnitFeatures} from '../decode/amdvi.js'
import {UNIT_FEATURES, UNKNOWN_FEATURES, UnitFeatures} from '../decode/unit-features.js'
import {VIRTIO_IOMMU_UNIT_FEATURES} from '../decode/virtio-iommu.js'
import {vtdFeatures} from '../decode/vtd.js'
import {IommuctlError} from '../errors.js'
import {Bdf} from '../records.js'
import {UnitKind} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'
import {isVfioDriver} from '../vfio/driver.js'
import {DeviceRecord, readDevices} from './devices.js'
import {readFaultLog} from './fault-log.js'
import {GroupRecord, readGroups} from './groups.js'
import {isSelftest, readStatus, StatusRecord, TranslationMode, translationMode, typeCounts} from './status.js'
import {PciTopology} from './topology.js'
import {readUnits, UnitRecord} from './units.js'

export type ExportFormat = 'prometheus' | 'nfd' | 'ansible'

/** A unit as the export names it: its kind and what it offers. */
export interface ExportUnit extends UnitRecord {
  /** The kernel's iommufd selftest mock (CONFIG_IOMMUFD_TEST), not hardware: left out of the counts. */
  selftest: boolean
  features: UnitFeatures
}

/** The repeats of one fault, per device and reason, from the kernel log. */
export interface FaultCount {
  /** The device the record names; null for a unit's own events. */
  bdf: Bdf | null
  kind: string
  /** The kernel's name for the reason; null where the line gave none. */
  reason: string | null
  count: number
}

/** What the kernel log said, or why it was not read (no log in the snapshot, no CAP_SYSLOG). */
export interface ExportFaults {
  read: boolean
  /** Why the log was not read; null when it was. */
  reason: string | null
  counts: FaultCount[]
}

/**
 * What the host offers, over its hardware units (the iommufd selftest mock left out): true when
 * every unit whose registers were read has the feature, false when one lacks it, null when none
 * could be read.
 */
export interface HostFeatures extends UnitFeatures {
  /** An IOMMU is present and in use (the status check iommu.present passes). */
  iommu: boolean
  /** How the default domains translate; null without an IOMMU. */
  mode: TranslationMode | null
  /** The status check irq.remapping passes: interrupts are remapped now, not only supported. */
  interruptRemappingInUse: boolean
  unitKinds: UnitKind[]
  /** Viable groups (every member on vfio-pci, pci-stub or no driver) with a device on a VFIO driver: ready to hand to a VM. */
  vfioViableGroups: number
}

/** `iommuctl export --format ansible` (the fact contrib/iommuctl.fact prints) */
export interface HostExport {
  /** The version of this document's shape. */
  format: 1
  /** The tool and version that wrote it. */
  tool: string
  root: string
  features: HostFeatures
  status: StatusRecord
  units: ExportUnit[]
  groups: GroupRecord[]
  devices: DeviceRecord[]
  /** The devices of `devices` bound to a VFIO driver (vfio-pci or a variant). */
  vfioDevices: VfioDevice[]
  faults: ExportFaults
}

export interface VfioDevice {
  bdf: Bdf
  driver: string
  group: number | null
}

/** `iommuctl export -o FILE --json`: where the export went. */
export interface ExportWritten {
  format: ExportFormat
  output: string
  bytes: number
}

export async function readExport(root: Root, tool: string): Promise<HostExport> {
  const topology = new PciTopology(root)
  const status = readStatus(root, {strict: false, vmMemory: null})
  const units = readUnits(root).map((u) => ({...u, selftest: isSelftest(u), features: unitFeatures(u)}))
  const groups = readGroups(root, topology)
  const devices = readDevices(topology)
  return {
    format: 1,
    tool,
    root: root.source,
    features: hostFeatures(status, units, groups),
    status,
    units,
    groups,
    devices,
    vfioDevices: devices
      .filter((d) => isVfioDriver(d.driver))
      .map((d) => ({bdf: d.bdf, driver: d.driver!, group: d.group})),
    faults: await readFaults(root),
  }
}

export function unitFeatures(u: UnitRecord): UnitFeatures {
  if (u.vtd?.ecapFields) return vtdFeatures(u.vtd.ecapFields)
  if (u.amdVi?.features) return amdViUnitFeatures(u.amdVi.features)
  if (u.kind === 'virtio-iommu') return VIRTIO_IOMMU_UNIT_FEATURES
  return UNKNOWN_FEATURES
}

function hostFeatures(status: StatusRecord, units: ExportUnit[], groups: GroupRecord[]): HostFeatures {
  const hardware = units.filter((u) => !u.selftest)
  const all = {} as UnitFeatures
  for (const name of UNIT_FEATURES) {
    const known = hardware.map((u) => u.features[name]).filter((v): v is boolean => v !== null)
    all[name] = known.length === 0 ? null : known.every(Boolean)
  }
  return {
    iommu: status.iommu,
    mode: status.iommu ? translationMode(typeCounts(groups), groups.length) : null,
    ...all,
    interruptRemappingInUse: status.checks.some((c) => c.id === 'irq.remapping' && c.result === 'pass'),
    unitKinds: [...new Set(hardware.map((u) => u.kind))].sort(),
    vfioViableGroups: groups.filter((g) => g.viable && g.devices.some((d) => isVfioDriver(d.driver))).length,
  }
}

/** The root's kernel log: the live /dev/kmsg or a snapshot's copy. Not being able to read it is no failure of the export. */
async function readFaults(root: Root): Promise<ExportFaults> {
  try {
    const report = await readFaultLog(root, {})
    const counts = report.groups.map((g) => ({
      bdf: g.bdf,
      kind: g.kind,
      reason: g.reason?.name ?? null,
      count: g.count,
    }))
    return {read: true, reason: null, counts}
  } catch (error) {
    if (!(error instanceof IommuctlError)) throw error
    return {read: false, reason: error.message, counts: []}
  }
}
