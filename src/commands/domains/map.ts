import {Args, Flags} from '@oclif/core'

import {sizeArgument} from '../../model/units-of-measure.js'
import type {MappingRecord} from '../../session/engine.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsMap extends SessionCommand<typeof DomainsMap> {
  static args = {
    ioas: Args.string({description: 'IOAS id or name.', required: true}),
    size: Args.string({
      description: 'Bytes, or with K, M, G or T and optionally iB (2M, 2MiB): a page multiple.',
      required: true,
    }),
  }

  static description =
    "Allocates memory in the session (anonymous, memfd or hugetlbfs) and maps it with IOMMU_IOAS_MAP or IOMMU_IOAS_MAP_FILE, at --iova or where the kernel chooses; prints the IOVA. Refused past the session's pinning limit."

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> main 2M',
      description: '2 MiB anywhere in IOAS main.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> main 1G --iova 0x100000000 --memory hugetlbfs',
      description: 'Huge pages at a fixed IOVA.',
    },
  ]

  static flags = {
    ...SessionCommand.sessionFlags,
    iova: Flags.string({summary: 'Fixed IOVA ("0x..."); the kernel chooses when absent.'}),
    memory: Flags.string({
      options: ['anonymous', 'memfd', 'hugetlbfs'],
      default: 'anonymous',
      summary: 'Where the memory comes from.',
    }),
    'read-only': Flags.boolean({summary: 'Map it readable only (devices cannot write it).'}),
    name: Flags.string({summary: 'A name for the mapping.'}),
  }

  static opensRoot = false

  static summary = 'Map memory into an IOAS of a session.'

  async run(): Promise<MappingRecord> {
    const f = this.flags
    sizeArgument('SIZE', this.args.size)
    const m = (await this.request('map', {
      ioas: this.args.ioas,
      size: this.args.size,
      iova: f.iova,
      name: f.name,
      memory: f.memory as 'anonymous' | 'memfd' | 'hugetlbfs',
      writable: !f['read-only'],
    })) as MappingRecord
    if (!this.jsonEnabled()) this.log(`mapped ${m.length} bytes at iova ${m.iova}`)
    return m
  }
}
