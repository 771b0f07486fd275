import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {readUnits, UnitDetail} from '../../src/model/units.js'
import {decodeVtdFsts, decodeVtdGsts} from '../../src/decode/vtd.js'
import {renderUnit, renderUnits} from '../../src/render/units.js'
import {column, fixtureRoot, lineOf, plain} from '../helpers/roots.js'

const unit = (name: string, kind: string): UnitDetail => ({
  ...readUnits(fixtureRoot(name)).find((u) => u.kind === kind)!,
  live: null,
})

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

  it('VT-d live registers: GSTS and FSTS decoded bit by bit; without debugfs, why not', () => {
    // GSTS 0xc7000000: TES 31, RTPS 30, QIES 26, IRES 25, IRTPS 24 (VT-d spec 11.4.5). FSTS 0x302:
    // PPF (1), fault record index 3 (15:8) (11.4.9.1).
    const live: UnitDetail = {
      ...unit('intel', 'intel-vtd'),
      live: {
        source: '/sys/kernel/debug/iommu/intel/iommu_regset',
        state: 'read',
        note: null,
        registers: {GSTS: '0xc7000000', FSTS: '0x302'},
        gsts: decodeVtdGsts(0xc7000000n),
        fsts: decodeVtdFsts(0x302n),
        control: null,
        status: null,
      },
    }
    const text = plain(renderUnit(live))
    assert.match(lineOf(section(text, 'live registers (debugfs)').join('\n'), 'GSTS'), /0xc7000000$/)
    const gsts = section(text, 'global status').join('\n')
    for (const [f, v] of Object.entries({
      tes: 'yes',
      rtps: 'yes',
      qies: 'yes',
      ires: 'yes',
      irtps: 'yes',
      cfis: 'no',
      wbfs: 'no',
    }))
      assert.match(lineOf(gsts, `${f} `), new RegExp(`${v}$`))
    const fsts = section(text, 'fault status').join('\n')
    assert.match(lineOf(fsts, 'ppf '), /yes$/)
    assert.match(lineOf(fsts, 'fri '), /3$/)
    const none = plain(
      renderUnit({
        ...live,
        live: {
          ...live.live!,
          state: 'not-root',
          note: 'run as root',
          registers: null,
          gsts: null,
          fsts: null,
        },
      }),
    )
    assert.match(none, /^live registers: not read, run as root$/m)
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
    const u: UnitDetail = {
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
