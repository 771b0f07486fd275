import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {GroupDetail, groupDetail} from '../../src/model/direct.js'
import {readGroup, readGroups} from '../../src/model/groups.js'
import {PciTopology} from '../../src/model/topology.js'
import {renderGroup, renderGroups} from '../../src/render/groups.js'
import {column, fixtureRoot, lineOf, plain} from '../helpers/roots.js'

const group = (name: string, id: number) => {
  const root = fixtureRoot(name)
  const topology = new PciTopology(root)
  return groupDetail(root, topology, readGroup(root, id, topology)!)
}

/** The lines under a bold section title, up to the next blank line. */
function section(text: string, title: string): string[] {
  const lines = text.split('\n')
  const at = lines.indexOf(title)
  assert.ok(at >= 0, `no section ${title} in:\n${text}`)
  const rest = lines.slice(at + 1)
  const end = rest.indexOf('')
  return end === -1 ? rest : rest.slice(0, end)
}

describe('renderGroups', () => {
  const text = plain(renderGroups(readGroups(fixtureRoot('intel'))))

  it('puts the group columns on its first device only, its other devices below', () => {
    const g = column(text, 'GROUP')
    const vfio = column(text, 'VFIO')
    const bridge = lineOf(text, '5 ')
    assert.match(bridge, /0000:00:07\.0/)
    assert.equal(vfio(bridge), 'no (2)')
    for (const bdf of ['0000:04:01.0', '0000:04:02.0']) {
      const row = text.split('\n').find((l) => l.includes(bdf))!
      assert.equal(g(row), '')
      assert.equal(vfio(row), '')
    }
  })

  it('a group of only a root port on pcieport is viable', () => {
    assert.equal(column(text, 'VFIO')(lineOf(text, '2 ')), 'viable')
  })

  it('says plainly when there are no groups, and where to look', () => {
    assert.match(renderGroups([]), /^No IOMMU groups: .*iommuctl status/)
  })
})

describe('renderGroup', () => {
  it('behind a conventional bridge: not viable, each device in the way with why, and the bridge as the cause', () => {
    const text = plain(renderGroup(group('intel', 5)))
    assert.match(lineOf(text, 'vfio'), /not viable: 2 device\(s\) in the way/)
    const blockers = section(text, 'in the way of VFIO')
    assert.deepEqual(
      blockers.map((l) => l.trim().split(': ')[0]),
      ['0000:04:01.0', '0000:04:02.0'],
    )
    for (const l of blockers) assert.match(l, /bound to e1000, which uses DMA itself/)
    assert.match(
      section(text, 'why these devices share a group')[0]!,
      /0000:00:07\.0: conventional PCI bridge/,
    )
    assert.deepEqual(section(text, 'devices').slice(1).map(column(text, 'DRIVER')), ['-', 'e1000', 'e1000'])
  })

  it('a multifunction device without ACS is named as the cause', () => {
    const causes = section(plain(renderGroup(group('intel', 9))), 'why these devices share a group')
    assert.match(causes.join('\n'), /multifunction device .*without ACS/)
  })

  it('reserved regions as a table of start, end and type', () => {
    const text = plain(renderGroup(group('intel', 1)))
    const rows = section(text, 'reserved regions')
    assert.deepEqual(rows[0]!.split(/\s+/), ['START', 'END', 'TYPE'])
    const msi = rows.find((r) => r.endsWith('msi'))!
    assert.match(msi, /^0x0*fee00000\s+0x0*feefffff\s+msi$/)
  })

  it('a viable group with no reserved regions and no sharing, by hand', () => {
    const g: GroupDetail = {
      ...group('intel', 1),
      viable: true,
      blockers: [],
      sharing: null,
      reservedRegions: [],
    }
    const text = plain(renderGroup(g))
    assert.match(lineOf(text, 'vfio'), /viable: every device is on a driver VFIO accepts/)
    assert.doesNotMatch(text, /in the way of VFIO|why these devices share/)
    assert.deepEqual(section(text, 'reserved regions'), ['  none'])
  })

  it('sharing without a cause it can name gives the summary instead', () => {
    const g: GroupDetail = {...group('intel', 5), sharing: {causes: [], summary: 'the kernel merged them'}}
    assert.deepEqual(section(plain(renderGroup(g)), 'why these devices share a group'), [
      '  the kernel merged them',
    ])
  })
})
