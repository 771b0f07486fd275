import {Args, Flags} from '@oclif/core'

import {ChangeCommand} from '../../change-command.js'
import {bind, ChangeReport} from '../../configure/changes.js'
import {configFlag} from '../../host-config-flag.js'

export default class DevicesBind extends ChangeCommand<typeof DevicesBind> {
  static args = {
    bdf: Args.string({description: 'PCI addresses (0000:01:00.0 ...).', required: true}),
  }

  static description = `Moves each device with driver_override, unbind and drivers_probe, then checks that it really is on the new driver (drivers_probe reports success even when nothing bound).

For VFIO drivers the whole IOMMU group must move: VFIO needs every endpoint of a group. Devices you did not name are taken along only with --group; bridges stay where they are. Without --driver each device goes to vfio-pci, or to the VFIO variant driver the kernel's modules.alias names for it (as libvirt picks one). A driver that is a module not yet loaded is loaded with modprobe.

The plan is printed before anything changes; --dry-run prints only the plan. Each device's previous driver and driver_override are journalled (--journal-dir, default /run/iommuctl) before it changes, so \`devices unbind\` and \`devices restore\` give it back. If any step fails, every device moved so far is put back and the error names the failed step. Binding again what is already bound changes nothing and says so. With --persist, each named device's entry in the host config (--config, default /etc/iommuctl/host.yaml) gets the driver it is on now, and --group if given (the file is made if absent, edited in place keeping its comments, written beside and renamed over, never through a symlink).

Refused unless --force: a device that is an IOMMU, holds a mounted filesystem or swap, is the boot display, or has a network interface with an address or the default route, and any device whose group would take one of these along.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> 0000:01:00.0',
      description: 'Give a NIC to vfio-pci (or to its VFIO variant driver).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> 0000:04:01.0 --group --dry-run',
      description: 'What would move with it: the plan for its whole group.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 0000:01:00.0 --persist',
      description: 'Bind it, and record it in /etc/iommuctl/host.yaml for `host apply` at boot.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> 0000:00:1f.3 --driver pci-stub --json',
      description: 'Park a device on pci-stub; the record of what changed as JSON.',
    },
  ]

  static flags = {
    ...ChangeCommand.changeFlags,
    driver: Flags.string({
      summary: 'Driver to bind to (default: vfio-pci, or the VFIO variant driver for the device).',
    }),
    group: Flags.boolean({summary: 'Move every device of the group (VFIO needs the whole group).'}),
    persist: Flags.boolean({
      summary: 'Also record it in the host config (--config), so that `host apply` does it at boot.',
    }),
    config: configFlag,
  }

  static strict = false

  static summary =
    'Bind devices to vfio-pci (or another driver), whole IOMMU groups, journalled and verified.'

  async run(): Promise<ChangeReport> {
    const report = bind(this.root, this.argvAll, {
      ...this.changeOptions(),
      driver: this.flags.driver,
      group: this.flags.group ?? false,
    })
    await this.persist(
      report,
      this.flags,
      this.argvAll.map((bdf) => ({
        bdf,
        driver: report.devices.find((d) => d.bdf === bdf)!.to.driver,
        group: this.flags.group ?? false,
      })),
    )
    this.printResult(report)
    return report
  }
}
