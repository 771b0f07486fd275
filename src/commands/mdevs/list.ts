import {BaseCommand} from '../../base-command.js'
import {MdevList, readMdevs} from '../../model/mdevs.js'

export default class MdevsList extends BaseCommand<typeof MdevsList> {
  static description = `Every device that can make mediated devices (an mdev parent, under /sys/class/mdev_bus) with the types it offers: each type's name, VFIO device API (vfio-pci, vfio-ccw, vfio-ap), description where the driver gives one, and how many more it can make now (available_instances). Then every mdev (/sys/bus/mdev/devices) with its parent, type, driver, IOMMU group and VFIO cdev. Plans and sessions take an mdev by its UUID wherever they take a PCI address.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'The types on offer and the mdevs made.'},
    {
      command:
        "<%= config.bin %> <%= command.id %> --json | jq -r '.parents[].types[] | select(.availableInstances > 0) | .id'",
      description: 'The types that can make another mdev now.',
    },
  ]

  static summary = 'List mdev parents, their types, and the mediated devices.'

  async run(): Promise<MdevList> {
    const list = readMdevs(this.root)
    if (!this.jsonEnabled()) {
      const {renderMdevs} = await import('../../render/mdevs.js')
      this.log(renderMdevs(list))
    }
    return list
  }
}
