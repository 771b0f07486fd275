import {BaseCommand} from '../../base-command.js'
import {readUnits, UnitRecord} from '../../model/units.js'
import {table} from '../../render/style.js'

export default class Units extends BaseCommand<typeof Units> {
  static description =
    'Every unit under /sys/class/iommu with its kind (intel-vtd, amd-vi, virtio-iommu, arm-smmu-v3, unknown), the number of devices behind it and a one-line summary of its decoded capabilities. `units show NAME` gives every register field.'

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'List the IOMMU units.'},
    {
      command:
        '<%= config.bin %> <%= command.id %> --json | jq \'.[] | select(.kind == "intel-vtd") | .vtd.ecapFields.pasid\'',
      description: 'Does each VT-d unit support PASID?',
    },
  ]

  static summary = 'List IOMMU units and what they can do.'

  async run(): Promise<UnitRecord[]> {
    const units = readUnits(this.root)
    if (!this.jsonEnabled()) {
      if (units.length === 0) this.log('No IOMMU units: /sys/class/iommu is empty or absent.')
      else
        this.log(
          table(
            ['NAME', 'KIND', 'DEVICES', 'SUMMARY'],
            units.map((u) => [u.name, u.kind, u.devices.length, u.summary]),
          ),
        )
    }
    return units
  }
}
