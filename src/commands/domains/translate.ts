import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {translate, TranslateRecord} from '../../model/live.js'
import {renderTranslate} from '../../render/domains.js'

export default class DomainsTranslate extends BaseCommand<typeof DomainsTranslate> {
  static args = {
    bdf: Args.string({description: 'PCI address of the device, e.g. 0000:00:03.0.', required: true}),
    iova: Args.string({description: 'The I/O virtual address, in hex with 0x.', required: true}),
  }

  static description =
    "Reads the page table the kernel dumps for the device in debugfs (VT-d: /sys/kernel/debug/iommu/intel/BDF/domain_translation_struct, or BDF/PASID/... with --pasid) and walks the IOVA through it: each level's entry, then the page size, physical address and permissions, or the level whose entry is not present. Needs root and a kernel with CONFIG_INTEL_IOMMU_DEBUGFS; exits 3 when debugfs cannot be read or the device has no page table there (pass-through has none: the IOVA is the physical address)."

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 0000:00:03.0 0x100000000',
      description: 'Where DMA to IOVA 0x100000000 from the device goes.',
    },
    {
      command:
        "sudo <%= config.bin %> <%= command.id %> 0000:00:03.0 0x1000 --pasid 1 --json | jq '.physicalAddress'",
      description: 'The same for PASID 1, as JSON.',
    },
  ]

  static flags = {
    pasid: Flags.integer({
      min: 0,
      summary: 'Walk the page table of this PASID of the device (VT-d scalable mode).',
    }),
  }

  static summary = "Walk an IOVA through a device's page table (debugfs)."

  async run(): Promise<TranslateRecord> {
    const record = translate(this.root, this.args.bdf, this.args.iova, this.flags.pasid ?? null)
    if (!this.jsonEnabled()) this.log(renderTranslate(record))
    return record
  }
}
