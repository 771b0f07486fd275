import {Args} from '@oclif/core'

import {DoneResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

export default class PasidDetach extends SessionCommand<typeof PasidDetach> {
  static args = {
    bdf: Args.string({description: 'Device.', required: true}),
    pasid: Args.integer({description: 'PASID, 1 to 1048575.', min: 1, max: 1048575, required: true}),
  }

  static description = 'VFIO_DEVICE_DETACH_IOMMUFD_PT with VFIO_DEVICE_DETACH_PASID.'

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %> 0000:03:00.0 1', description: 'Detach PASID 1.'},
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Detach a PASID of a device in a session.'

  async run(): Promise<DoneResult> {
    const r = (await this.request('detach', {device: this.args.bdf, pasid: this.args.pasid})) as DoneResult
    if (!this.jsonEnabled()) this.log(`${this.args.bdf} PASID ${this.args.pasid} detached`)
    return r
  }
}
