import type {DeviceRecord, IdName} from '../model/devices.js'
import type {DeviceDetail} from '../model/direct.js'
import type {MdevRecord} from '../model/mdevs.js'
import {mdevTable} from './mdevs.js'
import {heldBy, renderDirectMapping} from './groups.js'
import {ACS_NAMES} from '../model/topology.js'
import {bold, fields, table} from './style.js'

/** `devices`: one row per PCI device, or a sentence when the filters leave none; then the mdevs, if any. */
export function renderDevices(devices: DeviceRecord[], mdevs: MdevRecord[] = []): string {
  const pci = pciTable(devices)
  return mdevs.length ? `${pci}\n\n${bold('mediated devices')}\n${mdevTable(mdevs)}` : pci
}

function pciTable(devices: DeviceRecord[]): string {
  if (devices.length === 0) return 'No PCI devices match.'
  return table(
    ['DEVICE', 'CLASS', 'VENDOR:DEVICE', 'DRIVER', 'GROUP', 'CAPABILITIES', 'NAME'],
    devices.map((d) => [
      d.bdf,
      d.class?.id.slice(2, 6),
      `${d.vendor?.id.slice(2)}:${d.device?.id.slice(2)}`,
      d.driver,
      d.group,
      capabilityList(d),
      [d.vendor?.name, d.device?.name].filter(Boolean).join(' '),
    ]),
  )
}

/** The warning `devices` gives on stderr when some capabilities could not be read; null when none. */
export function unreadableConfigWarning(devices: DeviceRecord[]): string | null {
  return devices.some((d) => !d.config.complete)
    ? 'Extended config space is readable by root only: capabilities marked ? are unknown. Run as root for all of them.'
    : null
}

/** The IOMMU-relevant capabilities a device has, by name; ? when its config space was not readable. */
export function capabilityList(d: DeviceRecord): string {
  if (!d.config.complete) return '?'
  const c = d.capabilities
  const names = [
    c.acs && 'ACS',
    c.ats && 'ATS',
    c.pri && 'PRI',
    c.pasid && 'PASID',
    c.ari && 'ARI',
    c.sriov && `SR-IOV(${c.sriov.numVfs}/${c.sriov.totalVfs})`,
  ]
  return names.filter(Boolean).join(' ') || '-'
}

/** `devices show`: the device's facts, each capability decoded, then the firmware's 1:1 regions. */
export function renderDevice(d: DeviceDetail): string {
  const idName = (x: IdName | null) => (x ? `${x.name ?? 'unknown'} [${x.id.slice(2)}]` : null)
  const lines = [
    fields([
      ['device', d.bdf],
      ['vendor', idName(d.vendor)],
      ['model', idName(d.device)],
      ['subsystem', d.subsystem ? `${idName(d.subsystem.vendor)} ${idName(d.subsystem.device)}` : null],
      ['class', idName(d.class)],
      ['revision', d.revision],
      ['driver', d.driver],
      ['driver_override', d.driverOverride],
      ['iommu group', d.group],
      ['iommu unit', d.unit],
      ['numa node', d.numaNode],
      ['reset methods', d.resetMethods?.join(' ') || null],
      [
        'sr-iov',
        d.sriov
          ? `${d.sriov.numVfs} of ${d.sriov.totalVfs} VFs enabled${d.sriov.vfs.length ? ': ' + d.sriov.vfs.join(' ') : ''}`
          : null,
      ],
      ['physical function', d.physfn],
      ['vfio cdev', d.vfioCdev],
      ['held by', heldBy(d.heldBy)],
      ['upstream', d.upstream.join(' > ') || 'root bus'],
      ['pcie', d.express ? d.express.type : d.config.complete ? 'conventional PCI' : null],
    ]),
    `\n${bold('capabilities')}`,
  ]
  if (d.config.reason) lines.push(`  ${d.config.reason}: unknown ${d.config.unreadable.join(', ')}`)
  const c = d.capabilities
  const flags = (o: object) =>
    Object.entries(o)
      .map(([k, v]) => `${ACS_NAMES[k] ?? k}${v ? '+' : '-'}`)
      .join(' ')
  if (d.config.complete) {
    lines.push(
      `  ACS     ${c.acs ? `cap: ${flags(c.acs.capabilities)}\n          ctl: ${flags(c.acs.control)}` : 'absent'}`,
      `  ATS     ${c.ats ? oneLine(c.ats) : 'absent'}`,
      `  PRI     ${c.pri ? oneLine(c.pri) : 'absent'}`,
      `  PASID   ${c.pasid ? oneLine(c.pasid) : 'absent'}`,
      `  ARI     ${c.ari ? oneLine(c.ari) : 'absent'}`,
      `  SR-IOV  ${c.sriov ? oneLine(c.sriov) : 'absent'}`,
    )
  }
  lines.push(renderDirectMapping(d.directMapping))
  return lines.join('\n')
}

function oneLine(o: object): string {
  return Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === 'boolean' ? (v ? 'yes' : 'no') : v}`)
    .join(' ')
}
