import {Args} from '@oclif/core'

import {IdResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

export default class PasidAttach extends SessionCommand<typeof PasidAttach> {
  static args = {
    bdf: Args.string({description: 'Device on vfio-pci with a PASID capability.', required: true}),
    pasid: Args.integer({description: 'PASID, 1 to 1048575.', min: 1, max: 1048575, required: true}),
    domain: Args.string({description: 'IOAS or HWPT (one made with --pasid) id or name.', required: true}),
  }

  static description =
    'VFIO_DEVICE_ATTACH_IOMMUFD_PT with VFIO_DEVICE_ATTACH_PASID: DMA tagged with this PASID translates through the domain. The device needs the PASID capability and an IOMMU that supports it.'

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 0000:03:00.0 1 h1',
      description: 'PASID 1 of the device to HWPT h1.',
    },
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Attach a PASID of a device to a domain of a session.'

  async run(): Promise<IdResult> {
    const r = (await this.request('attach', {
      device: this.args.bdf,
      to: this.args.domain,
      pasid: this.args.pasid,
    })) as IdResult
    if (!this.jsonEnabled()) this.log(`${this.args.bdf} PASID ${this.args.pasid} attached to ${r.id}`)
    return r
  }
}
