import {PciConfig} from '../decode/pcie.js'
import {Bdf, Hex, hexWidth} from '../records.js'
import {PciBriefSysfs} from '../sysfs/pci.js'
import {PciIds} from '../sysfs/pciids.js'
import {isVfioDriver} from '../vfio/driver.js'
import {MdevRecord} from './mdevs.js'
import {PciNode, PciTopology} from './topology.js'

export interface IdName {
  id: Hex
  name: string | null
}

/** The short form of a device, as groups list their members. */
export interface DeviceBrief {
  bdf: Bdf
  vendor: IdName | null
  device: IdName | null
  class: IdName | null
  driver: string | null
}

export interface DeviceRecord extends DeviceBrief {
  subsystem: {vendor: IdName; device: IdName} | null
  revision: Hex | null
  driverOverride: string | null
  group: number | null
  unit: string | null
  numaNode: number | null
  resetMethods: string[] | null
  /** SR-IOV physical function: its VFs. Null for devices without SR-IOV. */
  sriov: {totalVfs: number | null; numVfs: number | null; vfs: Bdf[]} | null
  /** For a virtual function, its physical function. */
  physfn: Bdf | null
  vfioCdev: string | null
  /** Upstream bridges, nearest the root first. */
  upstream: Bdf[]
  express: PciConfig['express'] | null
  capabilities: {
    acs: PciConfig['acs'] | null
    ats: PciConfig['ats'] | null
    pri: PciConfig['pri'] | null
    pasid: PciConfig['pasid'] | null
    ari: PciConfig['ari'] | null
    sriov: PciConfig['sriov'] | null
  }
  config: {
    bytes: number
    complete: boolean
    /** What could not be decoded, and why. */
    unreadable: string[]
    reason: string | null
  }
}

export interface DeviceFilter {
  /** Class code prefix in hex ("02", "0200", "0x0106") or a word of the class name ("ethernet", "nvme"). */
  class?: string
  driver?: string
  group?: number
  vfio?: boolean
}

let ids: PciIds | undefined
const pciIds = () => (ids ??= new PciIds())

const hex = (n: number | null, width: number): string | null => (n === null ? null : hexWidth(n, width))

export function briefDevice(bdf: string, s: PciBriefSysfs | null): DeviceBrief {
  if (!s) return {bdf, vendor: null, device: null, class: null, driver: null}
  const names = pciIds()
  return {
    bdf,
    vendor: s.vendor === null ? null : {id: hex(s.vendor, 4)!, name: names.vendorName(s.vendor)},
    device:
      s.vendor === null || s.device === null
        ? null
        : {id: hex(s.device, 4)!, name: names.deviceName(s.vendor, s.device)},
    class: s.classCode === null ? null : {id: hex(s.classCode, 6)!, name: className(names, s.classCode)},
    driver: s.driver,
  }
}

/** The name lspci prints for a class: the subclass's, else the base class's. */
function className(names: PciIds, classCode: number): string | null {
  const n = names.className(classCode)
  return n.subclass ?? n.class
}

export function deviceRecord(topology: PciTopology, bdf: string): DeviceRecord | null {
  return recordOf(bdf, topology.get(bdf))
}

function recordOf(bdf: string, node: PciNode | null): DeviceRecord | null {
  if (!node) return null
  const s = node.sysfs
  const cfg = node.config
  const names = pciIds()
  const subsystem =
    s.subsystemVendor === null || s.subsystemDevice === null || s.vendor === null || s.device === null
      ? null
      : {
          vendor: {id: hex(s.subsystemVendor, 4)!, name: names.vendorName(s.subsystemVendor)},
          device: {
            id: hex(s.subsystemDevice, 4)!,
            name: names.subsystemName(s.vendor, s.device, s.subsystemVendor, s.subsystemDevice),
          },
        }
  const reason = !cfg
    ? 'config space could not be read'
    : cfg.complete
      ? null
      : `only the first ${cfg.length} bytes of config space are readable without root (CAP_SYS_ADMIN)`
  const brief = briefDevice(bdf, s)
  // Field by field, not a spread of the brief: V8 builds spread objects far more slowly, which
  // cost some 150 ms of `devices` at 8000 devices (bench/inspect.js).
  return {
    bdf: brief.bdf,
    vendor: brief.vendor,
    device: brief.device,
    class: brief.class,
    driver: brief.driver,
    subsystem,
    revision: hex(s.revision, 2),
    driverOverride: s.driverOverride,
    group: s.group,
    unit: s.unit,
    numaNode: s.numaNode,
    resetMethods: s.resetMethods,
    sriov:
      s.sriovTotalVfs === null ? null : {totalVfs: s.sriovTotalVfs, numVfs: s.sriovNumVfs, vfs: s.virtfns},
    physfn: s.physfn,
    vfioCdev: s.vfioCdev,
    upstream: s.upstream,
    express: cfg?.express ?? null,
    capabilities: {
      acs: cfg?.acs ?? null,
      ats: cfg?.ats ?? null,
      pri: cfg?.pri ?? null,
      pasid: cfg?.pasid ?? null,
      ari: cfg?.ari ?? null,
      sriov: cfg?.sriov ?? null,
    },
    config: {
      bytes: cfg?.length ?? 0,
      complete: cfg?.complete ?? false,
      unreadable: cfg ? cfg.unreadable : ['all of config space'],
      reason,
    },
  }
}

export function readDevices(topology: PciTopology, filter: DeviceFilter = {}): DeviceRecord[] {
  return topology
    .bdfs()
    .map((bdf) => recordOf(bdf, topology.once(bdf)))
    .filter((d): d is DeviceRecord => d !== null && matches(d, filter))
}

function matches(d: DeviceRecord, f: DeviceFilter): boolean {
  if (f.driver !== undefined && d.driver !== f.driver) return false
  if (f.group !== undefined && d.group !== f.group) return false
  if (f.vfio !== undefined && (d.vfioCdev !== null || isVfioDriver(d.driver)) !== f.vfio) return false
  if (f.class !== undefined) {
    const want = f.class.toLowerCase().replace(/^0x/, '')
    const code = d.class?.id.slice(2) ?? ''
    const byCode = /^[0-9a-f]{2,6}$/.test(want) && code.startsWith(want)
    const byName = (d.class?.name ?? '').toLowerCase().includes(want)
    if (!byCode && !byName) return false
  }
  return true
}

/** The mdevs `devices` lists beside the PCI devices: those the filters admit (an mdev has no class). */
export function filterMdevs(mdevs: MdevRecord[], f: DeviceFilter): MdevRecord[] {
  return mdevs.filter(
    (m) =>
      f.class === undefined &&
      (f.driver === undefined || m.driver === f.driver) &&
      (f.group === undefined || m.group === f.group) &&
      (f.vfio === undefined || (m.vfioCdev !== null) === f.vfio),
  )
}

/** `iommuctl devices --json`: the PCI devices, then the mediated devices (the records with a uuid). */
export type DeviceList = (DeviceRecord | MdevRecord)[]
