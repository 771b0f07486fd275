// Mediated devices (vfio-mdev), as drivers/vfio/mdev lays them out in sysfs: a parent device
// registered with mdev_register_parent() appears under /sys/class/mdev_bus (a class_compat link to
// its device directory), with mdev_supported_types/<driver>-<type>/ holding create, name,
// available_instances, device_api and, where the driver has one, description (mdev_sysfs.c);
// each mdev is /sys/bus/mdev/devices/<UUID>, a child of its parent's directory, with an
// mdev_type link and a remove attribute. Everything here is read through Root and checked: a
// snapshot's names and links may be anything.
import * as path from 'node:path'

import {ExitCode, IommuctlError} from '../errors.js'
import {printable} from '../printable.js'
import {groupNumber, namesOf, UUID_PATTERN} from './inventory.js'
import {Root} from './root.js'

export const MDEV_BUS_CLASS = '/sys/class/mdev_bus'
export const MDEV_DEVICES_DIR = '/sys/bus/mdev/devices'

/**
 * A type directory's name, "<driver>-<sysfs_name>" (mdev_type_add): mtty-2, nvidia-35,
 * i915-GVTg_V5_4. No slash, nothing a shell or a terminal acts on.
 */
export const MDEV_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,99}$/

/** A parent's name under /sys/class/mdev_bus: its device name (mtty, 0000:00:02.0). */
const PARENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,99}$/

/** The most types one parent is read with: real ones have a few dozen (NVIDIA's vGPU profiles). */
export const MAX_MDEV_TYPES = 256
/** The most mdevs (or parents) listed: a host runs some hundreds of vGPUs at the very most. */
export const MAX_MDEVS = 4096
/** The most a type's available_instances is taken to be (u32 in the kernel). */
const MAX_INSTANCES = 0xffffffff

export interface MdevTypeSysfs {
  /** The directory's name, what `create` is written under: mtty-2. */
  id: string
  parent: string
  /** The type's pretty name (the name attribute); null when absent. */
  name: string | null
  /** The description attribute, shown only by drivers that have one; null otherwise. */
  description: string | null
  /** The VFIO device API the type's mdevs offer: vfio-pci, vfio-ccw, vfio-ap. */
  deviceApi: string | null
  /** How many more mdevs of this type the parent can make now; null when unreadable. */
  availableInstances: number | null
  /** UUIDs of the mdevs of this type (its devices/ directory). */
  devices: string[]
}

export interface MdevParentSysfs {
  /** Its name under /sys/class/mdev_bus. */
  name: string
  /** Its real sysfs directory, e.g. /sys/devices/virtual/mtty/mtty. */
  sysfsPath: string
  types: MdevTypeSysfs[]
}

export interface MdevDeviceSysfs {
  uuid: string
  /** The parent's device name (the directory above the mdev's); null when it is not one. */
  parent: string | null
  /** The type's id, from the mdev_type link; null when absent or not a type name. */
  type: string | null
  /** The mdev driver it is bound to (mtty, nvidia-vgpu-vfio); null when none. */
  driver: string | null
  group: number | null
  /** /dev/vfio/devices/vfioN, from the vfio-dev directory the VFIO core adds for its cdev. */
  vfioCdev: string | null
  sysfsPath: string
}

/** Every parent device with its types, in name order; none on a host without mdev support. */
export function readMdevParents(root: Root): MdevParentSysfs[] {
  return bounded(
    root,
    MDEV_BUS_CLASS,
    namesOf(root, MDEV_BUS_CLASS, (n) => PARENT_PATTERN.test(n), 'an mdev parent name'),
    MAX_MDEVS,
  ).map((name) => {
    const link = `${MDEV_BUS_CLASS}/${name}`
    const dir = root.resolveLink(link) ?? link
    return {name, sysfsPath: dir, types: readTypes(root, name, dir)}
  })
}

function readTypes(root: Root, parent: string, dir: string): MdevTypeSysfs[] {
  const typesDir = `${dir}/mdev_supported_types`
  const ids = namesOf(root, typesDir, (n) => MDEV_TYPE_PATTERN.test(n), 'an mdev type name')
  return bounded(root, typesDir, ids, MAX_MDEV_TYPES).map((id) => {
    const t = `${typesDir}/${id}`
    const text = (name: string) => attribute(root, `${t}/${name}`)
    return {
      id,
      parent,
      name: text('name'),
      description: text('description'),
      deviceApi: text('device_api'),
      availableInstances: count(root, `${t}/available_instances`),
      devices: bounded(
        root,
        `${t}/devices`,
        namesOf(root, `${t}/devices`, (n) => UUID_PATTERN.test(n), 'an mdev UUID'),
        MAX_MDEVS,
      ),
    }
  })
}

/** Every mdev, in UUID order. */
export function readMdevDevices(root: Root): MdevDeviceSysfs[] {
  const uuids = namesOf(root, MDEV_DEVICES_DIR, (n) => UUID_PATTERN.test(n), 'an mdev UUID')
  return bounded(root, MDEV_DEVICES_DIR, uuids, MAX_MDEVS)
    .map((uuid) => readMdevDevice(root, uuid))
    .filter((d): d is MdevDeviceSysfs => d !== null)
}

/** One mdev by UUID (checked first: no path is built from anything else); null when absent. */
export function readMdevDevice(root: Root, uuid: string): MdevDeviceSysfs | null {
  requireUuid(uuid)
  const link = `${MDEV_DEVICES_DIR}/${uuid}`
  if (!root.isDirectory(link)) return null
  const dir = root.resolveLink(link) ?? link
  const parentName = path.posix.basename(path.posix.dirname(dir))
  const type = root.linkName(`${dir}/mdev_type`)
  const groupName = root.linkName(`${dir}/iommu_group`)
  const group = groupName === null ? null : groupNumber(groupName)
  if (groupName !== null && group === null) {
    root.warn(`${printable(dir)}/iommu_group: ignored, its target is not a group number.`)
  }
  if (type !== null && !MDEV_TYPE_PATTERN.test(type)) {
    root.warn(`${printable(dir)}/mdev_type: ignored, its target is not an mdev type name.`)
  }
  const vfio = root.list(`${dir}/vfio-dev`).find((n) => /^vfio\d{1,9}$/.test(n))
  return {
    uuid,
    parent: PARENT_PATTERN.test(parentName) && link !== dir ? parentName : null,
    type: type !== null && MDEV_TYPE_PATTERN.test(type) ? type : null,
    driver: root.linkName(`${dir}/driver`),
    group,
    vfioCdev: vfio ? `/dev/vfio/devices/${vfio}` : null,
    sysfsPath: dir,
  }
}

/** Refuses anything that is not an mdev UUID as the kernel names one (a usage error). */
export function requireUuid(uuid: string): void {
  if (UUID_PATTERN.test(uuid)) return
  throw new IommuctlError('BAD_UUID', `${printable(JSON.stringify(uuid))} is not an mdev UUID.`, {
    exit: ExitCode.usage,
    suggestion:
      'Give the UUID in lowercase hex as the kernel names mdevs, e.g. 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 (see `iommuctl mdevs list`).',
  })
}

export function noSuchMdev(uuid: string): IommuctlError {
  return new IommuctlError('NO_SUCH_MDEV', `No mediated device ${uuid} on this host.`, {
    path: `${MDEV_DEVICES_DIR}/${uuid}`,
    suggestion: 'List them with `iommuctl mdevs list`.',
  })
}

/** A text attribute, null when absent or refused (a FIFO, a file over the cap): with a warning. */
function attribute(root: Root, file: string): string | null {
  try {
    return root.readText(file)
  } catch (error) {
    if (error instanceof IommuctlError) {
      root.warn(error.message)
      return null
    }
    throw error
  }
}

/** A decimal count attribute; null, with a warning, when it is not one. */
function count(root: Root, file: string): number | null {
  const text = attribute(root, file)
  if (text === null) return null
  if (/^[0-9]{1,10}$/.test(text) && Number(text) <= MAX_INSTANCES) return Number(text)
  root.warn(`${printable(file)}: ignored, ${printable(JSON.stringify(text.slice(0, 40)))} is not a count.`)
  return null
}

/** The first `limit` names, with a warning when there were more. */
function bounded(root: Root, dir: string, names: string[], limit: number): string[] {
  if (names.length <= limit) return names
  root.warn(`${printable(dir)}: read the first ${limit} of ${names.length} entries, the most iommuctl reads.`)
  return names.slice(0, limit)
}
