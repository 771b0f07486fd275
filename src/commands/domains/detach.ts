import {Args} from '@oclif/core'

import {DoneResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsDetach extends SessionCommand<typeof DomainsDetach> {
  static args = {bdf: Args.string({description: 'Device the session attached.', required: true})}

  static description =
    'VFIO_DEVICE_DETACH_IOMMUFD_PT: the device stays bound to the session, blocked from DMA.'

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %> 0000:00:03.0', description: 'Detach the e1000e.'},
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Detach a device in a session.'

  async run(): Promise<DoneResult> {
    const r = (await this.request('detach', {device: this.args.bdf})) as DoneResult
    if (!this.jsonEnabled()) this.log(`${this.args.bdf} detached`)
    return r
  }
}
