import {Args} from '@oclif/core'

import {DoneResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsDestroy extends SessionCommand<typeof DomainsDestroy> {
  static args = {id: Args.string({description: 'IOAS or HWPT id or name.', required: true})}

  static description =
    'IOMMU_DESTROY of an IOAS or HWPT; refused while a device or HWPT of the session uses it. An IOAS takes its mappings (and their memory) with it.'

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %> 3', description: 'Destroy object 3.'},
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Destroy an IOAS or HWPT of a session.'

  async run(): Promise<DoneResult> {
    const r = (await this.request('destroy', {id: this.args.id})) as DoneResult
    if (!this.jsonEnabled()) this.log(`destroyed ${this.args.id}`)
    return r
  }
}
