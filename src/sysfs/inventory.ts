import {hasControl, printable} from '../printable.js'
import {Root} from './root.js'

export type UnitKind = 'intel-vtd' | 'amd-vi' | 'virtio-iommu' | 'arm-smmu-v3' | 'unknown'

export interface GroupSummary {
  id: number
  type: string | null
  devices: string[]
}

export interface UnitSummary {
  name: string
  kind: UnitKind
  devices: string[]
}

/** A PCI address as the kernel names it: domain:bus:device.function, lowercase hex. */
export const BDF_PATTERN = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/

/**
 * An mdev's name: the kernel names it "%pUl" of its UUID (mdev_device_create), lowercase, and
 * create_store takes exactly UUID_STRING_LEN characters (a trailing newline aside).
 */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export const GROUPS_DIR = '/sys/kernel/iommu_groups'
export const UNITS_DIR = '/sys/class/iommu'
export const PCI_DEVICES_DIR = '/sys/bus/pci/devices'

/** A group number as the kernel names its directory (iommu_group_alloc: "%d" of an ida id). */
export const GROUP_PATTERN = /^(0|[1-9][0-9]{0,9})$/

/** The group number a name stands for, or null when it is not one ("007", "x", "" are not). */
export function groupNumber(name: string): number | null {
  return GROUP_PATTERN.test(name) && Number(name) <= 0x7fffffff ? Number(name) : null
}

const isBdf = (name: string) => BDF_PATTERN.test(name)
/** A unit or device name as the kernel gives one: printable (what is not UTF-8 Root.list drops). */
const isDeviceName = (name: string) => !hasControl(name)

/**
 * The entries of a directory that are valid names of their kind; the others are skipped with a
 * warning, so that one odd entry in a snapshot neither stops a listing nor reaches its output.
 */
export function namesOf(root: Root, dir: string, valid: (name: string) => boolean, what: string): string[] {
  const names = root.list(dir)
  const good = names.filter(valid)
  if (good.length < names.length) {
    const bad = names.filter((n) => !valid(n)).map((n) => printable(JSON.stringify(n)))
    root.warn(`${dir}: skipped ${bad.join(', ')}: not ${what}.`)
  }
  return good
}

/** IOMMU groups, by number, with their default domain type and member devices. */
export function listGroups(root: Root): GroupSummary[] {
  return namesOf(root, GROUPS_DIR, (n) => groupNumber(n) !== null, 'a group number')
    .map((name) => ({
      id: Number(name),
      type: root.readText(`${GROUPS_DIR}/${name}/type`),
      // An mdev's group (an emulated one VFIO made for it) holds the mdev: `mdevs` lists those.
      devices: namesOf(
        root,
        `${GROUPS_DIR}/${name}/devices`,
        (n) => isBdf(n) || UUID_PATTERN.test(n),
        'a PCI address (dddd:bb:dd.f) or an mdev UUID',
      ).filter(isBdf),
    }))
    .sort((a, b) => a.id - b.id)
}

/** IOMMU units registered under /sys/class/iommu, with the devices behind each. */
export function listUnits(root: Root): UnitSummary[] {
  return namesOf(root, UNITS_DIR, isDeviceName, 'a unit name').map((name) => {
    const dir = `${UNITS_DIR}/${name}`
    return {
      name,
      kind: unitKind(root, name, root.resolveLink(dir) ?? dir),
      devices: namesOf(root, `${dir}/devices`, isDeviceName, 'a device name'),
    }
  })
}

function unitKind(root: Root, name: string, realDir: string): UnitKind {
  if (root.isDirectory(`${realDir}/intel-iommu`)) return 'intel-vtd'
  if (root.isDirectory(`${realDir}/amd-iommu`)) return 'amd-vi'
  // virtio-iommu registers its unit under the virtio device: .../0000:00:02.0/virtio0/iommu/virtio0
  if (/\/virtio\d+\//.test(realDir)) return 'virtio-iommu'
  if (name.startsWith('smmu3.')) return 'arm-smmu-v3'
  return 'unknown'
}

/** PCI addresses (BDFs) of every PCI device the kernel knows. */
export function listPciDevices(root: Root): string[] {
  return namesOf(root, PCI_DEVICES_DIR, isBdf, 'a PCI address (dddd:bb:dd.f)')
}
