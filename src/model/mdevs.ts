import {MdevName, MdevUuid} from '../records.js'
import {MdevDeviceSysfs, readMdevDevices, readMdevParents} from '../sysfs/mdev.js'
import {Root} from '../sysfs/root.js'
import {DeviceHolders, deviceHolders} from './holders.js'

/** One type a parent offers (mdev_supported_types/<id>). */
export interface MdevTypeRecord {
  id: MdevName
  name: string | null
  description: string | null
  deviceApi: string | null
  availableInstances: number | null
  devices: MdevUuid[]
}

export interface MdevParentRecord {
  name: MdevName
  sysfsPath: string
  types: MdevTypeRecord[]
}

/** One mediated device. */
export interface MdevRecord {
  uuid: MdevUuid
  parent: MdevName | null
  type: MdevName | null
  /** The type's pretty name, from the parent's type directory. */
  typeName: string | null
  driver: string | null
  group: number | null
  vfioCdev: string | null
  sysfsPath: string
}

/** `iommuctl mdevs list --json` */
export interface MdevList {
  parents: MdevParentRecord[]
  devices: MdevRecord[]
}

/** `iommuctl devices show UUID --json`: an mdev, and who holds it open. */
export interface MdevDetail extends MdevRecord {
  heldBy: DeviceHolders
}

export function readMdevs(root: Root): MdevList {
  const parents = readMdevParents(root).map(({name, sysfsPath, types}) => ({
    name,
    sysfsPath,
    types: types.map(({parent: _parent, ...t}) => t),
  }))
  const typeName = (d: MdevDeviceSysfs) =>
    parents.find((p) => p.name === d.parent)?.types.find((t) => t.id === d.type)?.name ?? null
  return {parents, devices: readMdevDevices(root).map((d) => ({...d, typeName: typeName(d)}))}
}

/** One mdev with its holders: the processes with its cdev or its VFIO group node open. */
export function mdevDetail(root: Root, record: MdevRecord): MdevDetail {
  const nodes = [record.vfioCdev, record.group === null ? null : `/dev/vfio/${record.group}`]
  return {
    ...record,
    heldBy: deviceHolders(
      root,
      nodes.filter((n): n is string => n !== null),
    ),
  }
}
