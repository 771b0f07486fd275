import {Args} from '@oclif/core'

import type {MappingRecord} from '../../session/engine.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsUnmap extends SessionCommand<typeof DomainsUnmap> {
  static args = {
    ioas: Args.string({description: 'IOAS id or name.', required: true}),
    mapping: Args.string({
      description: 'The IOVA a mapping starts at ("0x..."), or its name.',
      required: true,
    }),
  }

  static description = 'IOMMU_IOAS_UNMAP of one mapping the session made, which then frees its memory.'

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> main 0x100000000',
      description: 'Unmap what starts there.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> main buf',
      description: 'Unmap the mapping named buf (domains map --name buf).',
    },
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Unmap a mapping from an IOAS of a session.'

  async run(): Promise<MappingRecord> {
    const m = (await this.request('unmap', {ioas: this.args.ioas, iova: this.args.mapping})) as MappingRecord
    if (!this.jsonEnabled()) this.log(`unmapped ${m.length} bytes at iova ${m.iova}`)
    return m
  }
}
