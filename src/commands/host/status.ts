import {BaseCommand} from '../../base-command.js'
import {HostStatusRecord, hostStatus} from '../../model/host-status.js'
import {ExitCode} from '../../errors.js'
import {configFlag, loadConfig} from '../../host-config-flag.js'
import {renderHostStatus} from '../../render/host.js'

export default class HostStatus extends BaseCommand<typeof HostStatus> {
  static description = `Compares the desired state (--config, default /etc/iommuctl/host.yaml; see \`host apply --help\`) with the host: each device's driver, each PF's VF count, each group's default domain type, each hugepage pool. Each difference comes with its fix; where a kernel driver has a device the config wants on vfio-pci, that it got there at boot, and how to keep it off: vfio-pci.ids= on the kernel command line when vfio-pci is built in, a modprobe.d softdep when it is a module.

Exit status: 0 when the host is as the config says, 4 when it differs (for monitoring), 2 for a config that does not fit the host (naming the entry).`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: 'Is the host still as /etc/iommuctl/host.yaml says?',
    },
    {
      command:
        "<%= config.bin %> <%= command.id %> --config host.yaml --json | jq '.items[] | select(.ok | not)'",
      description: 'What differs, for a script.',
    },
  ]

  static flags = {config: configFlag}

  static summary = 'Show where the host differs from its desired state (exit 4 when it does).'

  async run(): Promise<HostStatusRecord> {
    const config = await loadConfig(this.root, this.flags.config)
    const record = hostStatus(this.root, config)
    if (!this.jsonEnabled()) this.log(renderHostStatus(record))
    process.exitCode = record.drift ? ExitCode.drift : ExitCode.ok
    return record
  }
}
