import {BaseCommand} from '../../base-command.js'
import {GroupRecord, readGroups} from '../../model/groups.js'

export default class Groups extends BaseCommand<typeof Groups> {
  static description = `One line per device, grouped: the group's id and default domain type, whether VFIO can take the group (every device on vfio-pci or a VFIO variant driver, pci-stub or no driver; bridges on pcieport excepted), and each device's BDF, driver and name. \`groups show ID\` explains why devices share a group and lists its reserved regions.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'List every IOMMU group.'},
    {
      command: "<%= config.bin %> <%= command.id %> --json | jq '.[] | select(.devices | length > 1) | .id'",
      description: 'Which groups hold more than one device?',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --root host.tar.gz',
      description: 'The groups of a snapshot.',
    },
  ]

  static summary = 'List IOMMU groups, their devices and whether VFIO can use them.'

  async run(): Promise<GroupRecord[]> {
    const groups = readGroups(this.root)
    if (!this.jsonEnabled()) {
      // Only tables need chalk and cli-table3: JSON output starts without them.
      const {renderGroups} = await import('../../render/groups.js')
      this.log(renderGroups(groups))
    }
    return groups
  }
}
