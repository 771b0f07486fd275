import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {IommuctlError} from '../../errors.js'
import {readUnitDetail, readUnits, UnitDetail} from '../../model/units.js'
import {renderUnit} from '../../render/units.js'

export default class UnitsShow extends BaseCommand<typeof UnitsShow> {
  static args = {
    name: Args.string({description: 'Unit name as in /sys/class/iommu (dmar0, ivhd0, ...).', required: true}),
  }

  static description =
    'VT-d units: version, address, cap and ecap, every field named by the VT-d specification mnemonic (read as the kernel reads it). AMD-Vi: cap, EFR and EFR2 with every named feature. virtio-iommu: its virtio feature bits. Other kinds: every attribute as text. VT-d, as root with CONFIG_INTEL_IOMMU_DEBUGFS: the registers as they are now (debugfs iommu_regset), the global and fault status decoded (translation, interrupt remapping and queued invalidation enabled, pending faults); AMD-Vi, as root with CONFIG_AMD_IOMMU_DEBUGFS: Control, Status, EFR and the command-buffer and event-log pointers through the debugfs mmio file of the unit (each offset written, the answer kept only when it names that offset; the offset chosen before is put back), Control and Status decoded; otherwise why not.'

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> dmar0', description: 'Decode a VT-d unit.'},
    {command: '<%= config.bin %> <%= command.id %> ivhd0 --json', description: 'An AMD-Vi unit as JSON.'},
  ]

  static summary = 'Show one IOMMU unit with its registers decoded.'

  async run(): Promise<UnitDetail> {
    const unit = readUnitDetail(this.root, this.args.name)
    if (!unit) {
      const known = readUnits(this.root).map((u) => u.name)
      throw new IommuctlError('NO_SUCH_UNIT', `No IOMMU unit named ${this.args.name}.`, {
        path: `/sys/class/iommu/${this.args.name}`,
        suggestion: known.length
          ? `Units on this host: ${known.join(', ')}.`
          : 'This host has no IOMMU units.',
      })
    }
    if (!this.jsonEnabled()) this.log(renderUnit(unit))
    return unit
  }
}
