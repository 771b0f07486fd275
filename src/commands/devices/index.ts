import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {DeviceList, filterMdevs, readDevices} from '../../model/devices.js'
import {readMdevs} from '../../model/mdevs.js'
import {PciTopology} from '../../model/topology.js'

export default class Devices extends BaseCommand<typeof Devices> {
  static description = `Every PCI device with its class, names (from the system's pci.ids, as lspci finds them; absent names stay empty), driver, IOMMU group and the IOMMU-relevant PCIe capabilities it has (ACS, ATS, PRI, PASID, SR-IOV). \`devices show BDF\` decodes each capability. Capabilities live in extended config space, which only root can read: as another user they show as unknown.

Then the mediated devices (mdevs), each with its parent, type, driver, group and VFIO cdev; in JSON they are the records with a \`uuid\` (and no \`bdf\`). --driver, --group and --vfio filter them too; --class leaves them out (an mdev has no PCI class).`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'List PCI devices.'},
    {
      command: '<%= config.bin %> <%= command.id %> --class ethernet --driver e1000e',
      description: 'Ethernet controllers on e1000e.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --class 0108',
      description: 'NVMe controllers, by class code prefix.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --vfio --json',
      description: 'Devices on a VFIO driver, as JSON.',
    },
    {
      command: "<%= config.bin %> <%= command.id %> --json | jq '.[] | select(.uuid) | {uuid, parent, type}'",
      description: 'Only the mediated devices, with parent and type.',
    },
  ]

  static flags = {
    class: Flags.string({
      summary:
        'Only devices whose class code starts with this hex prefix (02, 0200) or whose class name contains this word.',
    }),
    driver: Flags.string({summary: 'Only devices bound to this driver.'}),
    group: Flags.integer({min: 0, summary: 'Only devices in this IOMMU group.'}),
    vfio: Flags.boolean({
      allowNo: true,
      summary: 'Only devices on a VFIO driver (--no-vfio: only the others).',
    }),
  }

  static summary =
    'List PCI devices with their driver, IOMMU group and PCIe capabilities, and the mediated devices.'

  async run(): Promise<DeviceList> {
    const {class: cls, driver, group, vfio} = this.flags
    const filter = {class: cls, driver, group, vfio}
    const devices = readDevices(new PciTopology(this.root), filter)
    const mdevs = filterMdevs(readMdevs(this.root).devices, filter)
    if (!this.jsonEnabled()) {
      // Only tables need chalk and cli-table3: JSON output starts without them.
      const {renderDevices, unreadableConfigWarning} = await import('../../render/devices.js')
      this.log(renderDevices(devices, mdevs))
      const warning = unreadableConfigWarning(devices)
      if (warning) this.warn(warning)
    }
    return [...devices, ...mdevs]
  }
}
