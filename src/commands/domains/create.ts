import {Args, Flags} from '@oclif/core'

import {ExitCode, IommuctlError} from '../../errors.js'
import {HwptFlag} from '../../session/plan.js'
import {IdResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsCreate extends SessionCommand<typeof DomainsCreate> {
  static args = {kind: Args.string({description: 'ioas or hwpt.', options: ['ioas', 'hwpt'], required: true})}

  static description = `An IOAS (IOMMU_IOAS_ALLOC, optionally limited to --allow-iova ranges), or an HWPT (IOMMU_HWPT_ALLOC) on an IOAS for a device's IOMMU, with --nest-parent, --dirty-tracking or --pasid. Prints the id the kernel gave it.`

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %> ioas --name main', description: 'A new IOAS.'},
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> hwpt --ioas main --device 0000:00:03.0 --dirty-tracking',
      description: 'A page table with dirty tracking for the e1000e.',
    },
  ]

  static flags = {
    ...SessionCommand.sessionFlags,
    name: Flags.string({summary: 'A name later commands can use instead of the id.'}),
    'allow-iova': Flags.string({
      multiple: true,
      summary: 'For an IOAS: START-LAST ("0x0-0xffffffff"), repeatable.',
    }),
    'no-huge-pages': Flags.boolean({
      summary: 'For an IOAS: keep its page tables to 4 KiB pages (IOMMU_OPTION_HUGE_PAGES 0).',
    }),
    ioas: Flags.string({summary: 'For an HWPT: the IOAS it translates.'}),
    device: Flags.string({summary: 'For an HWPT: the device (on vfio-pci) whose IOMMU allocates it.'}),
    'nest-parent': Flags.boolean({summary: 'HWPT usable as a nesting parent.'}),
    'dirty-tracking': Flags.boolean({summary: 'HWPT with dirty tracking.'}),
    pasid: Flags.boolean({summary: 'HWPT attachable to PASIDs.'}),
  }

  static opensRoot = false

  static summary = 'Create an IOAS or an HWPT in a session.'

  async run(): Promise<IdResult> {
    const f = this.flags
    let result: IdResult
    if (this.args.kind === 'ioas') {
      const allowIovas = f['allow-iova']?.map((r) => {
        const m = /^(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)$/.exec(r)
        if (!m)
          throw new IommuctlError(
            'USAGE',
            `--allow-iova ${r}: give START-LAST in hex, e.g. 0x0-0xffffffff.`,
            {exit: ExitCode.usage},
          )
        return {start: m[1]!, last: m[2]!}
      })
      const hugePages = f['no-huge-pages'] ? false : undefined
      result = (await this.request('create-ioas', {name: f.name, allowIovas, hugePages})) as IdResult
    } else {
      if (!f.ioas || !f.device) {
        throw new IommuctlError('USAGE', 'An HWPT needs --ioas and --device.', {exit: ExitCode.usage})
      }
      const flags = (['nest-parent', 'dirty-tracking', 'pasid'] as HwptFlag[]).filter((x) => f[x])
      result = (await this.request('create-hwpt', {
        ioas: f.ioas,
        device: f.device,
        name: f.name,
        flags,
      })) as IdResult
    }
    if (!this.jsonEnabled()) this.log(`${this.args.kind} ${result.id}`)
    return result
  }
}
