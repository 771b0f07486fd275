import {BaseCommand} from '../../base-command.js'
import {readUnits, UnitRecord} from '../../model/units.js'
import {renderUnits} from '../../render/units.js'

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
    if (!this.jsonEnabled()) this.log(renderUnits(units))
    return units
  }
}
