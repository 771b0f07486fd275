import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {DeviceRecord, deviceRecord} from '../../model/devices.js'
import {PciTopology} from '../../model/topology.js'
import {renderDevice} from '../../render/devices.js'
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
    if (!this.jsonEnabled()) this.log(renderDevice(device))
    return device
  }
}
