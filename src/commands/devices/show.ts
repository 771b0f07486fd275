import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {deviceRecord} from '../../model/devices.js'
import {deviceDetail, DeviceShown} from '../../model/direct.js'
import {mdevDetail, readMdevs} from '../../model/mdevs.js'
import {PciTopology} from '../../model/topology.js'
import {renderDevice} from '../../render/devices.js'
import {renderMdev} from '../../render/mdevs.js'
import {UUID_PATTERN} from '../../sysfs/inventory.js'
import {noSuchMdev} from '../../sysfs/mdev.js'
import {noSuchDevice, requireBdfs} from '../../sysfs/pci.js'

export default class DevicesShow extends BaseCommand<typeof DevicesShow> {
  static args = {
    bdf: Args.string({
      description: "PCI address, domain:bus:device.function (0000:00:03.0), or an mdev's UUID.",
      required: true,
    }),
  }

  static description = `Ids and names, class, revision, driver and driver_override, IOMMU group and unit, NUMA node, reset methods, SR-IOV (VFs, or the PF of a VF), the VFIO cdev node and the processes that hold it, its group node or its sysfs files open (pid and command, from /proc/*/fd: on the live host only, unknown under --root; run as root to see every process), the upstream bridges, the firmware's direct-mapped regions (DMAR RMRRs, IVRS IVMDs) that name the device beside the group's direct reserved regions, and whether they keep it from VFIO (a \`direct\` region: the kernel requires a 1:1 mapping; \`direct-relaxable\`, USB and graphics RMRRs: VFIO may take it), and the PCIe capabilities decoded from config space: ACS (each capability and control bit), ATS, PRI, PASID, ARI and SR-IOV. Config space past 64 bytes needs root; the output says which fields are missing and why.

Given an mdev's UUID instead: its parent, type, driver, IOMMU group, VFIO cdev and the processes that hold it.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> 0000:00:03.0',
      description: 'Everything about one device.',
    },
    {
      command: "sudo <%= config.bin %> <%= command.id %> 0000:03:00.0 --json | jq '.capabilities.pasid'",
      description: 'Its PASID capability, as JSON.',
    },
    {
      command: "sudo <%= config.bin %> <%= command.id %> 0000:00:03.0 --json | jq '.heldBy.holders'",
      description: 'Which process (a VMM, a DPDK application) has it open?',
    },
    {
      command: "<%= config.bin %> <%= command.id %> 0000:00:14.0 --json | jq '.directMapping'",
      description: 'Does the firmware pin a 1:1 mapping on it (an RMRR) that keeps it from VFIO?',
    },
    {
      command: '<%= config.bin %> <%= command.id %> 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001',
      description: 'A mediated device: its parent, type, group, VFIO cdev and who holds it.',
    },
  ]

  static summary = 'Show one PCI device with its PCIe capabilities decoded.'

  async run(): Promise<DeviceShown> {
    const {bdf} = this.args
    if (UUID_PATTERN.test(bdf)) {
      const record = readMdevs(this.root).devices.find((m) => m.uuid === bdf)
      if (!record) throw noSuchMdev(bdf)
      const mdev = mdevDetail(this.root, record)
      if (!this.jsonEnabled()) this.log(renderMdev(mdev))
      return mdev
    }
    requireBdfs([bdf])
    const topology = new PciTopology(this.root)
    const record = deviceRecord(topology, bdf)
    if (!record) throw noSuchDevice(bdf)
    const device = deviceDetail(this.root, topology, record)
    if (!this.jsonEnabled()) this.log(renderDevice(device))
    return device
  }
}
