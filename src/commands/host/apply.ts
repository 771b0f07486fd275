import {Flags} from '@oclif/core'

import {ChangeCommand} from '../../change-command.js'
import {ChangeReport} from '../../configure/changes.js'
import {hostApply} from '../../configure/host.js'
import {configFlag, loadConfig} from '../../host-config-flag.js'

export default class HostApply extends ChangeCommand<typeof HostApply> {
  static description = `Reads the desired state (--config, default /etc/iommuctl/host.yaml) and makes the live host match it, in one plan run by the same journalled transaction as \`devices bind\`: the interlocks (an IOMMU, a mounted disk, the boot display, a NIC in use need --force), a device open in another process refused, every step checked, everything done so far put back when one fails. The order: modules, VF counts (VFs exist before they are bound), device moves, group default domain types (the drivers that do DMA through a group unbound while it changes, then bound back), hugepages. A second run finds nothing to do and says so. \`devices restore\` gives the devices back; VF counts and hugepages are put back only by a failed run's rollback.

The config, JSON or YAML (schemas/host-config.json; an unknown field is refused):

  devices:
    - bdf: 0000:00:03.0           # or id: 8086:10d3[:subvendor:subdevice], or path: /sys/devices/...
      driver: vfio-pci            # a VFIO variant, a kernel driver, or none
    - bdf: 0000:04:01.0
      driver: vfio-pci
      group: true                 # its whole IOMMU group goes too (bridges stay)
    - id: 8086:10c9               # an id entry matches one device, or every one with all: true
      vfs: {count: 2, drivers: [vfio-pci]}   # VF 0 on vfio-pci, VF 1 on what the kernel gives it
  groups:
    - bdf: 0000:03:00.0           # the group of this device (group numbers change between boots)
      type: identity              # DMA, DMA-FQ or identity
  hugepages:
    - {size: 2M, count: 64}       # add node: N for one NUMA node

A config that does not fit the host (an entry matching no device, an entry about one device matching two, a device named twice, more VFs than sriov_totalvfs, no such hugepage pool) is refused, naming the entry, with exit code 2, before anything changes.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> --dry-run',
      description: 'What would change to match /etc/iommuctl/host.yaml.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %>',
      description: 'Make the host match it (as the boot unit does).',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> --config ./host.yaml --device 0000:00:03.0 --json',
      description: 'Only what a config says about one device; the record of what changed as JSON.',
    },
  ]

  static flags = {
    ...ChangeCommand.changeFlags,
    config: configFlag,
    device: Flags.string({
      helpValue: 'BDF',
      summary: 'Only what the config says about this device (its entry, VFs, group).',
    }),
  }

  static summary = 'Make the host match its desired state: drivers, VFs, group types, hugepages.'

  async run(): Promise<ChangeReport> {
    const config = await loadConfig(this.root, this.flags.config)
    const report = hostApply(this.root, config, {...this.changeOptions(), device: this.flags.device})
    this.printResult(report)
    return report
  }
}
