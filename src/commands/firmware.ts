import {BaseCommand} from '../base-command.js'
import {FirmwareRecord, readFirmware} from '../model/firmware.js'
import {renderFirmware} from '../render/firmware.js'

export default class Firmware extends BaseCommand<typeof Firmware> {
  static description = `The ACPI tables the firmware describes its IOMMUs in, as the kernel booted with them (/sys/firmware/acpi/tables/DMAR and IVRS), decoded field by field. DMAR: host address width and flags (INTR_REMAP, X2APIC_OPT_OUT, DMA_CTRL_PLATFORM_OPT_IN); every DRHD, RMRR, ATSR, RHSA, ANDD, SATC and SIDP, structures of unknown type with their type and length. IVRS: IVinfo, every IVHD (10h, 11h, 40h; the EFR image of 11h/40h decoded) with its device entries, every IVMD. Device scopes are resolved to PCI devices as the kernel does, through the bridges' secondary bus numbers read from the same root; each DRHD and IVHD is matched to its unit in /sys/class/iommu, so a unit the kernel did not bring up, or a table it ignored, is said. A damaged table (short, bad checksum, lengths past the end, unknown revision) is decoded as far as it is sound and its problems named. The tables are readable by root only: run as root, or on a snapshot taken as root.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: "Decode this host's DMAR or IVRS."},
    {
      command:
        '<%= config.bin %> <%= command.id %> --json | jq \'.tables[].dmar.structures[] | select(.kind == "RMRR") | {base, end, devices: [.scopes[].bdf]}\'',
      description: 'Which devices does the firmware keep DMA-ing to reserved memory (RMRRs)?',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --root snapshot.tar.gz',
      description: "A customer's tables, from their snapshot.",
    },
  ]

  static summary = 'Decode the firmware DMAR and IVRS tables, resolved to devices and units.'

  async run(): Promise<FirmwareRecord> {
    const firmware = readFirmware(this.root)
    if (!this.jsonEnabled()) this.log(renderFirmware(firmware))
    return firmware
  }
}
