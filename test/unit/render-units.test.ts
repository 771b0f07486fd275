import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {readUnits, UnitRecord} from '../../src/model/units.js'
import {renderUnit, renderUnits} from '../../src/render/units.js'
import {column, fixtureRoot, lineOf, plain} from '../helpers/roots.js'

const unit = (name: string, kind: string) => readUnits(fixtureRoot(name)).find((u) => u.kind === kind)!

/** The lines of a section: its title alone on a line, its fields indented below it. */
function section(text: string, title: string): string[] {
  const lines = text.split('\n')
  const at = lines.indexOf(title)
  assert.ok(at >= 0, `no section ${title} in:\n${text}`)
  const rest = lines.slice(at + 1)
  const end = rest.findIndex((l) => !l.startsWith('  '))
  return end === -1 ? rest : rest.slice(0, end)
}

describe('renderUnits', () => {
  it('one row per unit: name, kind, how many devices, summary', () => {
    const units = readUnits(fixtureRoot('intel'))
    const text = plain(renderUnits(units))
    const dmar0 = lineOf(text, 'dmar0')
    assert.equal(column(text, 'KIND')(dmar0), 'intel-vtd')
    assert.equal(column(text, 'DEVICES')(dmar0), String(units[0]!.devices.length))
    assert.match(column(text, 'SUMMARY')(dmar0), /scalable mode/)
  })

  it('says where it looked when there are none', () => {
    assert.equal(renderUnits([]), 'No IOMMU units: /sys/class/iommu is empty or absent.')
  })
})

describe('renderUnit', () => {
  it('VT-d: the registers as sysfs has them, then each cap and ecap field by its mnemonic', () => {
    const root = fixtureRoot('intel')
    const text = plain(renderUnit(unit('intel', 'intel-vtd')))
    const cap = root.readText('/sys/class/iommu/dmar0/intel-iommu/cap')!
    const registers = section(text, 'registers')
    assert.ok(registers.some((l) => l.trim().split(/\s+/).join(' ') === `cap 0x${cap.replace(/^0x/, '')}`))
    // QEMU's VT-d: SAGAW 3- and 4-level tables, 2M and 1G second-level pages, interrupt remapping.
    assert.match(lineOf(section(text, 'cap').join('\n'), 'sagaw'), /3 4$/)
    assert.match(lineOf(section(text, 'cap').join('\n'), 'sllps'), /2M 1G$/)
    assert.match(lineOf(section(text, 'ecap').join('\n'), 'ir '), /yes$/)
  })

  it('AMD-Vi: the kernel boot line and the named EFR features', () => {
    const text = plain(renderUnit(unit('amd', 'amd-vi')))
    const features = section(text, 'features').join('\n')
    // AMD-Vi: Extended features (0x29d3, 0x0): PreF PPR GT IA GA HE (the kernel's boot message).
    for (const f of ['prefSup', 'pprSup', 'gtSup', 'iaSup', 'gaSup', 'heSup'])
      assert.match(lineOf(features, `${f} `), /yes$/)
    assert.match(lineOf(features, 'x2apicSup'), /no$/)
    assert.match(lineOf(section(text, 'registers').join('\n'), 'kernel boot line'), /PreF PPR GT IA GA HE/)
  })

  it('virtio-iommu: its feature bits; no interrupt remapping to decode', () => {
    const text = plain(renderUnit(unit('virtio', 'virtio-iommu')))
    assert.match(lineOf(section(text, 'virtio features').join('\n'), 'mapUnmap'), /yes$/)
    assert.match(lineOf(text, 'pci device'), /0000:00:02\.0$/)
  })

  it('by hand: an unknown kind shows its attributes, no devices as "none", and no register sections', () => {
    const u: UnitRecord = {
      ...unit('intel', 'intel-vtd'),
      kind: 'unknown',
      devices: [],
      vtd: null,
      attributes: {model: 'mock'},
    }
    const text = plain(renderUnit(u))
    assert.match(lineOf(text, 'devices'), /none$/)
    assert.doesNotMatch(text, /^registers$/m)
    assert.deepEqual(section(text, 'attributes'), ['  model  mock'])
  })
})
