import {Args} from '@oclif/core'

import {ChangeCommand} from '../../change-command.js'
import {ChangeReport, unbind} from '../../configure/changes.js'

export default class DevicesUnbind extends ChangeCommand<typeof DevicesUnbind> {
  static args = {
    bdf: Args.string({description: 'PCI addresses (0000:01:00.0 ...).', required: true}),
  }

  static description = `A device iommuctl bound goes back to the driver and driver_override it had before, as the journal recorded them. Any other device is taken off its driver and left with none; that is journalled too, so \`devices restore\` gives it back.

Taking a device off its driver is refused unless --force when it is an IOMMU, holds a mounted filesystem or swap, is the boot display, or has a network interface in use. Giving a device back is never refused.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> 0000:01:00.0',
      description: 'Give a device iommuctl bound to vfio-pci back to its own driver.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> 0000:00:1f.3 --dry-run',
      description: 'What unbinding a device would do.',
    },
  ]

  static flags = {...ChangeCommand.changeFlags}

  static strict = false

  static summary = 'Give devices back to the driver they had before iommuctl, or take them off their driver.'

  async run(): Promise<ChangeReport> {
    const report = unbind(this.root, this.argvAll, this.changeOptions())
    this.printResult(report)
    return report
  }
}
