import {Args, Flags} from '@oclif/core'

import type {InvalidateResult} from '../../session/engine.js'
import {userDataArgument} from '../../session/nesting.js'
import {InvalidateDataType} from '../../session/plan.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsInvalidate extends SessionCommand<typeof DomainsInvalidate> {
  static args = {id: Args.string({description: 'A nested HWPT or a vIOMMU: id or name.', required: true})}

  static description =
    "IOMMU_HWPT_INVALIDATE: flushes the caches of a nested HWPT (after its guest changed its page table) or runs a vIOMMU's invalidation commands. --entries is an array of the --data-type's entries (iommu_hwpt_vtd_s1_invalidate, 24 bytes each; iommu_viommu_arm_smmuv3_invalidate, 16; the selftest mock's), as a file or hex digits in memory order; none asks only whether the type is taken. Prints how many entries the kernel handled; when it refuses one, the error says how many it handled before it."

  static examples = [
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> s1 --data-type vtd-s1 --entries 0000000000000000ffffffffffffffff0000000000000000',
      description: 'Flush everything the VT-d stage-1 HWPT s1 caches (addr 0, npages U64_MAX).',
    },
  ]

  static flags = {
    ...SessionCommand.sessionFlags,
    'data-type': Flags.string({
      options: ['vtd-s1', 'arm-smmuv3', 'selftest'],
      required: true,
      summary: 'What the entries are (vtd-s1 for a nested HWPT, arm-smmuv3 for a vIOMMU).',
    }),
    entries: Flags.string({
      summary: 'The request array, as a file or as hex digits; absent: an empty array.',
      helpValue: 'FILE|HEX',
    }),
  }

  static opensRoot = false

  static summary = "Invalidate a nested HWPT's or vIOMMU's caches in a session."

  async run(): Promise<InvalidateResult> {
    const f = this.flags
    const result = (await this.request('invalidate', {
      id: this.args.id,
      dataType: f['data-type'] as InvalidateDataType,
      entries: f.entries === undefined ? '' : userDataArgument('--entries', f.entries),
    })) as InvalidateResult
    if (!this.jsonEnabled()) this.log(`handled ${result.handled} of ${result.requested}`)
    return result
  }
}
