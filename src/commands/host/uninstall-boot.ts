import {BaseCommand} from '../../base-command.js'
import {uninstallBoot} from '../../configure/boot.js'
import {BootRecord} from '../../model/boot.js'
import {renderBoot} from '../../render/host.js'
import {bootFlags} from './install-boot.js'

export default class HostUninstallBoot extends BaseCommand<typeof HostUninstallBoot> {
  static description = `Removes the files \`host install-boot\` wrote (those that start with its mark; another file there is refused unless --force). The host keeps its present state; \`devices restore\` gives the devices back.`

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %>',
      description: 'Stop applying the desired state at boot.',
    },
  ]

  static flags = bootFlags

  static opensRoot = false

  static summary = 'Remove the boot unit and the udev rule.'

  async run(): Promise<BootRecord> {
    const r = uninstallBoot({
      rootDir: this.flags['root-dir'],
      prefix: this.flags.prefix,
      force: this.flags.force,
    })
    if (!this.jsonEnabled()) this.log(renderBoot(r))
    return r
  }
}
