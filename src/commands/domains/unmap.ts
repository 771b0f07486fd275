import {Args} from '@oclif/core'

import type {MappingRecord} from '../../session/engine.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsUnmap extends SessionCommand<typeof DomainsUnmap> {
  static args = {
    ioas: Args.string({description: 'IOAS id or name.', required: true}),
    iova: Args.string({description: 'The IOVA a mapping starts at (or its name).', required: true}),
  }

  static description = 'IOMMU_IOAS_UNMAP of one mapping the session made, which then frees its memory.'

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> main 0x100000000',
      description: 'Unmap what starts there.',
    },
  ]

  static flags = {...SessionCommand.sessionFlags}

  static summary = 'Unmap a mapping from an IOAS of a session.'

  async run(): Promise<MappingRecord> {
    const m = (await this.request('unmap', {ioas: this.args.ioas, iova: this.args.iova})) as MappingRecord
    if (!this.jsonEnabled()) this.log(`unmapped ${m.length} bytes at iova ${m.iova}`)
    return m
  }
}
