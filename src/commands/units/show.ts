import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {IommuctlError} from '../../errors.js'
import {readUnit, readUnits, UnitRecord} from '../../model/units.js'
import {fields} from '../../render/style.js'

export default class UnitsShow extends BaseCommand<typeof UnitsShow> {
  static args = {
    name: Args.string({description: 'Unit name as in /sys/class/iommu (dmar0, ivhd0, ...).', required: true}),
  }

  static description =
    'VT-d units: version, address, cap and ecap, every field named by the VT-d specification mnemonic (read as the kernel reads it). AMD-Vi: cap, EFR and EFR2 with every named feature. virtio-iommu: its virtio feature bits. Other kinds: every attribute as text.'

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> dmar0', description: 'Decode a VT-d unit.'},
    {command: '<%= config.bin %> <%= command.id %> ivhd0 --json', description: 'An AMD-Vi unit as JSON.'},
  ]

  static summary = 'Show one IOMMU unit with its registers decoded.'

  async run(): Promise<UnitRecord> {
    const unit = readUnit(this.root, this.args.name)
    if (!unit) {
      const known = readUnits(this.root).map((u) => u.name)
      throw new IommuctlError('NO_SUCH_UNIT', `No IOMMU unit named ${this.args.name}.`, {
        path: `/sys/class/iommu/${this.args.name}`,
        suggestion: known.length
          ? `Units on this host: ${known.join(', ')}.`
          : 'This host has no IOMMU units.',
      })
    }
    if (!this.jsonEnabled()) this.render(unit)
    return unit
  }

  private render(u: UnitRecord): void {
    this.log(
      fields([
        ['name', u.name],
        ['kind', u.kind],
        ['summary', u.summary],
        ['sysfs', u.sysfsPath],
        ['pci device', u.pciDevice],
        ['devices', u.devices.length ? u.devices.join(' ') : 'none'],
      ]),
    )
    const section = (title: string, record: object | null | undefined) => {
      if (!record) return
      this.log(`\n${title}`)
      this.log(
        indent(
          fields(Object.entries(record).map(([k, v]) => [k, Array.isArray(v) ? v.join(' ') || 'none' : v])),
        ),
      )
    }
    if (u.vtd) {
      section('registers', {version: u.vtd.version, address: u.vtd.address, cap: u.vtd.cap, ecap: u.vtd.ecap})
      section('cap', u.vtd.capFields)
      section('ecap', u.vtd.ecapFields)
    }
    if (u.amdVi) {
      section('registers', {
        cap: u.amdVi.cap,
        efr: u.amdVi.efr,
        efr2: u.amdVi.efr2,
        'kernel boot line': u.amdVi.bootLine,
      })
      section('features', u.amdVi.features)
    }
    section('virtio features', u.virtio)
    section('attributes', u.attributes)
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
}
