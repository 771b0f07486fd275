import {Args, Flags} from '@oclif/core'

import {ChangeCommand} from '../../change-command.js'
import {ChangeReport, unbind} from '../../configure/changes.js'
import {configFlag} from '../../host-config-flag.js'

export default class DevicesUnbind extends ChangeCommand<typeof DevicesUnbind> {
  static args = {
    bdf: Args.string({description: 'PCI addresses (0000:01:00.0 ...).', required: true}),
  }

  static description = `A device iommuctl bound goes back to the driver and driver_override it had before, as the journal recorded them. Any other device is taken off its driver and left with none; that is journalled too, so \`devices restore\` gives it back.

Taking a device off its driver is refused unless --force when it is an IOMMU, holds a mounted filesystem or swap, is the boot display, or has a network interface in use. Giving a device back is never refused. With --persist, the device's bdf entry leaves the host config (--config, default /etc/iommuctl/host.yaml), so \`host apply\` no longer binds it at boot.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> 0000:01:00.0',
      description: 'Give a device iommuctl bound to vfio-pci back to its own driver.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 0000:01:00.0 --persist',
      description: 'Give it back, and drop it from /etc/iommuctl/host.yaml.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> 0000:00:1f.3 --dry-run',
      description: 'What unbinding a device would do.',
    },
  ]

  static flags = {
    ...ChangeCommand.changeFlags,
    config: configFlag,
    persist: Flags.boolean({summary: "Also drop the device's entry from the host config (--config)."}),
  }

  static strict = false

  static summary = 'Give devices back to the driver they had before iommuctl, or take them off their driver.'

  async run(): Promise<ChangeReport> {
    const report = unbind(this.root, this.argvAll, this.changeOptions())
    await this.persist(
      report,
      this.flags,
      this.argvAll.map((bdf) => ({bdf, driver: null})),
    )
    this.printResult(report)
    return report
  }
}
