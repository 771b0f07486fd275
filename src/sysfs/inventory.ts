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

export const GROUPS_DIR = '/sys/kernel/iommu_groups'
export const UNITS_DIR = '/sys/class/iommu'
export const PCI_DEVICES_DIR = '/sys/bus/pci/devices'

/** IOMMU groups, by number, with their default domain type and member devices. */
export function listGroups(root: Root): GroupSummary[] {
  return root
    .list(GROUPS_DIR)
    .filter((name) => /^\d+$/.test(name))
    .map((name) => ({
      id: Number(name),
      type: root.readText(`${GROUPS_DIR}/${name}/type`),
      devices: root.list(`${GROUPS_DIR}/${name}/devices`),
    }))
    .sort((a, b) => a.id - b.id)
}

/** IOMMU units registered under /sys/class/iommu, with the devices behind each. */
export function listUnits(root: Root): UnitSummary[] {
  return root.list(UNITS_DIR).map((name) => {
    const dir = `${UNITS_DIR}/${name}`
    return {
      name,
      kind: unitKind(root, name, root.resolveLink(dir) ?? dir),
      devices: root.list(`${dir}/devices`),
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
  return root.list(PCI_DEVICES_DIR)
}
