import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {installBoot} from '../../configure/boot.js'
import {BootRecord} from '../../model/boot.js'
import {renderBoot} from '../../render/host.js'

/** The flags both boot commands take. */
export const bootFlags = {
  force: Flags.boolean({summary: 'Replace (or remove) a file there that iommuctl did not install.'}),
  prefix: Flags.string({
    default: '/etc',
    summary:
      'Where the units and the rule go: PREFIX/systemd/system and PREFIX/udev/rules.d (/usr/lib for a package).',
  }),
  'root-dir': Flags.string({
    default: '/',
    summary: 'Install under this directory instead of / (as systemctl --root).',
  }),
}

export default class HostInstallBoot extends BaseCommand<typeof HostInstallBoot> {
  static description = `Writes contrib/iommuctl-host.service (a oneshot that runs \`host apply\` after udev has settled, before libvirtd.service and kubelet.service), contrib/iommuctl-host-device@.service and contrib/99-iommuctl.rules (udev starts that unit for a hot-added PCI device, which gets what the config says about it, as driverctl does), with ExecStart naming the iommuctl this ran as. Each file starts with a line that marks it as iommuctl's: a reinstall replaces only such a file (another one only with --force), never through a symlink. It does not enable the unit: it prints what to run.`

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %>',
      description: 'Apply /etc/iommuctl/host.yaml at every boot.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --root-dir ./image --prefix /usr/lib',
      description: 'Into an image or a package tree.',
    },
  ]

  static flags = bootFlags

  static opensRoot = false

  static summary = 'Install the boot unit and the udev rule that apply the desired state.'

  async run(): Promise<BootRecord> {
    const r = await installBoot({
      rootDir: this.flags['root-dir'],
      prefix: this.flags.prefix,
      force: this.flags.force,
    })
    if (!this.jsonEnabled()) this.log(renderBoot(r))
    return r
  }
}
