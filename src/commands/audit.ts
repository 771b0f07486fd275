import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode} from '../errors.js'
import {AUDIT_LEVELS, AuditLevel, AuditRecord, readAudit} from '../model/audit.js'
import {Context} from '../model/status.js'
import {renderAudit} from '../render/audit.js'

export default class Audit extends BaseCommand<typeof Audit> {
  static description = `What can reach memory without translation, in the spirit of fwupd's HSI checks (org.fwupd.hsi.IOMMU, pre-boot and kernel DMA protection). Each finding has an id, a level (info, low, medium, high, critical), the devices it concerns, its evidence (the files read and the values found) and a fix:

  iommu.absent                no IOMMU in use (off, not enabled, not built): every device DMAs untranslated
  iommu.passthrough           iommu=pt or iommu.passthrough=1 on the command line
  domains.identity            groups in identity domains, with their devices
  devices.ungrouped           PCI devices in no IOMMU group (the IOMMU's own function excepted)
  dma.lazy                    DMA-FQ groups, iommu.strict=0: freed buffers stay reachable for a while
  ats.enabled                 devices with ATS enabled; high when behind an external-facing (removable) port
  irq.remapping               interrupt remapping not in use
  vfio.unsafe-interrupts      allow_unsafe_interrupts set for vfio_iommu_type1 or iommufd
  vfio.noiommu                VFIO's enable_unsafe_noiommu_mode set
  direct.regions              groups with direct (1:1) reserved regions (RMRR, IVMD)
  sva                         devices with PASID and PRI on units that support SVA; uacce devices, shared idxd work queues
  vdpa                        vDPA devices and the group their DMA goes through
  thunderbolt.dma-protection  Thunderbolt/USB4 domains without iommu_dma_protection, or with security level none
  firmware.preboot-dma        DMAR DMA_CTRL_PLATFORM_OPT_IN / IVRS DMA remapping clear, or set and not honoured

Exit status: 0 when no finding is at or above --fail-on (default high), 1 when one is, 3 when the host has no IOMMU in use (the iommu.absent finding), 2 on a usage error.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: 'What on this host can DMA without translation?',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --fail-on medium --json | jq -r \'.findings[] | "\\(.level) \\(.id)"\'',
      description: 'In a compliance script: fail on medium findings too, and list them.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --root host.tar.gz --verbose',
      description: "Audit a customer's snapshot, with the evidence and the clean checks.",
    },
  ]

  static flags = {
    'fail-on': Flags.string({
      default: 'high',
      options: [...AUDIT_LEVELS],
      summary: 'Exit 1 when a finding is at this level or above.',
    }),
    verbose: Flags.boolean({
      char: 'v',
      default: false,
      summary: 'Show the evidence under each finding, and the checks that found nothing.',
    }),
  }

  static summary = 'Audit what can reach memory without IOMMU translation.'

  async run(): Promise<AuditRecord> {
    const record = readAudit(new Context(this.root), this.flags['fail-on'] as AuditLevel)
    if (!this.jsonEnabled()) this.log(renderAudit(record, {verbose: this.flags.verbose}))
    process.exitCode = !record.iommu ? ExitCode.unavailable : record.failed ? ExitCode.failure : ExitCode.ok
    return record
  }
}
