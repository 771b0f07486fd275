import type {MdevDetail, MdevList, MdevRecord} from '../model/mdevs.js'
import {heldBy} from './groups.js'
import {bold, fields, table} from './style.js'

/** `mdevs list`: the types each parent offers, then the mdevs that exist. */
export function renderMdevs(list: MdevList): string {
  if (list.parents.length === 0 && list.devices.length === 0) {
    return 'No mediated devices, and no device here that can make them.'
  }
  const types = list.parents.flatMap((p) =>
    p.types.map((t) => [p.name, t.id, t.name, t.deviceApi, t.availableInstances, t.devices.length]),
  )
  const lines = [
    bold('types'),
    types.length
      ? table(['PARENT', 'TYPE', 'NAME', 'API', 'AVAILABLE', 'MDEVS'], types)
      : 'No parent offers a type.',
    '',
    bold('mdevs'),
    list.devices.length ? mdevTable(list.devices) : 'None.',
  ]
  return lines.join('\n')
}

/** The mdevs as `devices` and `mdevs list` print them. */
export function mdevTable(devices: MdevRecord[]): string {
  return table(
    ['MDEV', 'PARENT', 'TYPE', 'DRIVER', 'GROUP', 'VFIO CDEV'],
    devices.map((d) => [d.uuid, d.parent, d.type, d.driver, d.group, d.vfioCdev]),
  )
}

/** `devices show UUID`. */
export function renderMdev(d: MdevDetail): string {
  return fields([
    ['mdev', d.uuid],
    ['parent', d.parent],
    ['type', d.type ? `${d.type}${d.typeName ? ` (${d.typeName})` : ''}` : null],
    ['driver', d.driver],
    ['iommu group', d.group],
    ['vfio cdev', d.vfioCdev],
    ['held by', heldBy(d.heldBy)],
    ['sysfs', d.sysfsPath],
  ])
}
