import {Args, Flags} from '@oclif/core'

import {ChangeCommand} from '../../change-command.js'
import {ChangeReport} from '../../configure/changes.js'
import {DOMAIN_TYPES, parseDomainType, setType} from '../../configure/set-type.js'

export default class GroupsSetType extends ChangeCommand<typeof GroupsSetType> {
  static args = {
    id: Args.integer({description: 'Group number, as in /sys/kernel/iommu_groups.', min: 0, required: true}),
    type: Args.string({description: `${DOMAIN_TYPES.join(', ')}.`, required: true}),
  }

  static description = `Writes /sys/kernel/iommu_groups/ID/type and checks the result. DMA translates every DMA with strict invalidation, DMA-FQ batches invalidations through a flush queue (faster, a short window of stale mappings), identity maps DMA 1:1 (passthrough), auto goes back to the kernel's default.

The kernel changes the type only while no driver that does DMA through the group is bound (vfio-pci, pci-stub and pcieport don't count); DMA to DMA-FQ it does in place. Otherwise this refuses and names the devices, or with --rebind unbinds them, changes the type and binds them back, journalled like a bind (an interrupted run is repaired by \`devices restore\`). A refusal by the kernel, for example when a device needs another type, is reported in plain words.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> 7 identity --rebind',
      description: 'Passthrough for group 7, rebinding its driver.',
    },
    {command: '<%= config.bin %> <%= command.id %> 7 DMA-FQ', description: 'Lazy invalidation, in place.'},
    {
      command: '<%= config.bin %> <%= command.id %> 7 auto --dry-run',
      description: 'What going back to the default would do.',
    },
  ]

  static flags = {
    ...ChangeCommand.changeFlags,
    rebind: Flags.boolean({summary: "Unbind the group's drivers, change the type, bind them back."}),
  }

  static summary = "Change an IOMMU group's default domain type: DMA, DMA-FQ, identity or auto."

  async run(): Promise<ChangeReport> {
    const type = parseDomainType(this.args.type)
    const report = setType(this.root, this.args.id, type, {
      ...this.changeOptions(),
      rebind: this.flags.rebind,
    })
    this.printResult(report)
    return report
  }
}
