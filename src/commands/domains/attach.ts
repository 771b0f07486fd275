import {Args} from '@oclif/core'

import {IdResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsAttach extends SessionCommand<typeof DomainsAttach> {
  static args = {
    bdf: Args.string({description: "Device on vfio-pci, or an mdev's UUID.", required: true}),
    domain: Args.string({description: 'IOAS or HWPT id or name.', required: true}),
  }

  static description =
    "Binds the device to the session's iommufd (once) and attaches it (VFIO_DEVICE_ATTACH_IOMMUFD_PT); attaching an attached device replaces its domain. Prints the page table id in use: for an IOAS, the automatic HWPT the kernel made."

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 0000:00:03.0 main',
      description: 'The e1000e translates through IOAS main.',
    },
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Attach a device to an IOAS or HWPT of a session.'

  async run(): Promise<IdResult> {
    const r = (await this.request('attach', {device: this.args.bdf, to: this.args.domain})) as IdResult
    if (!this.jsonEnabled()) this.log(`${this.args.bdf} attached to ${r.id}`)
    return r
  }
}
