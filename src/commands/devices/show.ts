import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {DeviceRecord, deviceRecord, IdName} from '../../model/devices.js'
import {ACS_NAMES, PciTopology} from '../../model/topology.js'
import {bold, fields} from '../../render/style.js'
import {noSuchDevice, requireBdfs} from '../../sysfs/pci.js'

export default class DevicesShow extends BaseCommand<typeof DevicesShow> {
  static args = {
    bdf: Args.string({
      description: 'PCI address, domain:bus:device.function (0000:00:03.0).',
      required: true,
    }),
  }

  static description = `Ids and names, class, revision, driver and driver_override, IOMMU group and unit, NUMA node, reset methods, SR-IOV (VFs, or the PF of a VF), the VFIO cdev node, the upstream bridges, and the PCIe capabilities decoded from config space: ACS (each capability and control bit), ATS, PRI, PASID, ARI and SR-IOV. Config space past 64 bytes needs root; the output says which fields are missing and why.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> 0000:00:03.0',
      description: 'Everything about one device.',
    },
    {
      command: "sudo <%= config.bin %> <%= command.id %> 0000:03:00.0 --json | jq '.capabilities.pasid'",
      description: 'Its PASID capability, as JSON.',
    },
  ]

  static summary = 'Show one PCI device with its PCIe capabilities decoded.'

  async run(): Promise<DeviceRecord> {
    const {bdf} = this.args
    requireBdfs([bdf])
    const device = deviceRecord(new PciTopology(this.root), bdf)
    if (!device) throw noSuchDevice(bdf)
    if (!this.jsonEnabled()) this.render(device)
    return device
  }

  private render(d: DeviceRecord): void {
    const idName = (x: IdName | null) => (x ? `${x.name ?? 'unknown'} [${x.id.slice(2)}]` : null)
    this.log(
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
        ['upstream', d.upstream.join(' > ') || 'root bus'],
        ['pcie', d.express ? d.express.type : d.config.complete ? 'conventional PCI' : null],
      ]),
    )
    this.log(`\n${bold('capabilities')}`)
    if (d.config.reason) this.log(`  ${d.config.reason}: unknown ${d.config.unreadable.join(', ')}`)
    const c = d.capabilities
    const flags = (o: object) =>
      Object.entries(o)
        .map(([k, v]) => `${ACS_NAMES[k] ?? k}${v ? '+' : '-'}`)
        .join(' ')
    if (d.config.complete) {
      this.log(
        `  ACS     ${c.acs ? `cap: ${flags(c.acs.capabilities)}\n          ctl: ${flags(c.acs.control)}` : 'absent'}`,
      )
      this.log(`  ATS     ${c.ats ? oneLine(c.ats) : 'absent'}`)
      this.log(`  PRI     ${c.pri ? oneLine(c.pri) : 'absent'}`)
      this.log(`  PASID   ${c.pasid ? oneLine(c.pasid) : 'absent'}`)
      this.log(`  ARI     ${c.ari ? oneLine(c.ari) : 'absent'}`)
      this.log(`  SR-IOV  ${c.sriov ? oneLine(c.sriov) : 'absent'}`)
    }
  }
}

function oneLine(o: object): string {
  return Object.entries(o)
    .map(([k, v]) => `${k}=${typeof v === 'boolean' ? (v ? 'yes' : 'no') : v}`)
    .join(' ')
}
