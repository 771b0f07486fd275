// Which RMRRs and IVMDs cover a device, and how the table view says what follows. The IVMD
// records are hand-made with the coverage the AMD IOMMU specification gives each type (20h every
// device, 21h one device, 22h a range of requester IDs); the RMRR relaxable rule is
// intel/iommu.c's device_rmrr_is_relaxable (USB class 0c03, display base class 03).
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {IvrsIvmd} from '../../src/decode/ivrs.js'
import {directMapping, firmwareRegions, rmrrRelaxable} from '../../src/model/direct.js'
import type {FirmwareRecord} from '../../src/model/firmware.js'
import {renderDirectMapping} from '../../src/render/groups.js'
import {plain} from '../helpers/roots.js'

function ivmd(
  type: number,
  covers: IvrsIvmd['covers'],
  device: string | null,
  rangeEnd: string | null,
): IvrsIvmd {
  return {
    kind: 'IVMD',
    offset: 0x100 + type,
    type,
    length: 32,
    flags: 0x1,
    unity: true,
    read: true,
    write: true,
    exclusion: false,
    covers,
    segment: 0,
    device,
    rangeEnd,
    start: '0xa0000',
    size: '0x20000',
  }
}

const firmware = (structures: IvrsIvmd[]): FirmwareRecord => ({
  tables: [
    {
      name: 'IVRS',
      path: '/sys/firmware/acpi/tables/IVRS',
      signature: 'IVRS',
      dmar: null,
      ivrs: {header: null, info: null, structures, ivhdTypeUsed: 0x40, problems: []},
      units: [],
      kernel: '',
    },
  ],
  notes: [],
})

const dev = (bdf: string) => ({bdf, classCode: 0x020000})

describe('firmwareRegions: IVMD coverage', () => {
  it('20h covers every device of the segment, 21h one, 22h a range, inclusive', () => {
    const fw = firmware([
      ivmd(0x20, 'all', null, null),
      ivmd(0x21, 'select', '0000:00:03.0', null),
      ivmd(0x22, 'range', '0000:01:00.0', '0000:01:00.7'),
    ])
    const covers = (bdf: string) => firmwareRegions(fw, [dev(bdf)]).map((r) => r.offset - 0x100)
    assert.deepEqual(covers('0000:00:03.0'), [0x20, 0x21])
    assert.deepEqual(covers('0000:01:00.7'), [0x20, 0x22])
    assert.deepEqual(covers('0000:01:01.0'), [0x20])
    assert.deepEqual(covers('0001:00:03.0'), [])
  })

  it('the end is start + size - 1; an IVMD without unity or exclusion maps nothing', () => {
    const [r] = firmwareRegions(firmware([ivmd(0x20, 'all', null, null)]), [dev('0000:00:03.0')])
    assert.equal(r!.end, '0xbffff')
    assert.equal(r!.relaxable, false)
    const none = {...ivmd(0x20, 'all', null, null), unity: false}
    assert.deepEqual(firmwareRegions(firmware([none]), [dev('0000:00:03.0')]), [])
  })
})

describe('rmrrRelaxable', () => {
  it('USB controllers and display devices only', () => {
    assert.equal(rmrrRelaxable(0x0c0330), true)
    assert.equal(rmrrRelaxable(0x030000), true)
    assert.equal(rmrrRelaxable(0x038000), true)
    assert.equal(rmrrRelaxable(0x020000), false)
    assert.equal(rmrrRelaxable(0x0c0500), false)
    assert.equal(rmrrRelaxable(null), false)
  })
})

describe('renderDirectMapping', () => {
  const region = {
    structure: 'RMRR' as const,
    table: 'DMAR',
    offset: 0x40,
    start: '0x7c000000',
    end: '0x7fffffff',
    devices: ['0000:00:14.0'],
    relaxable: false,
  }

  it('a direct region: the source, range and device, and "blocks VFIO"', () => {
    const text = plain(
      renderDirectMapping(
        directMapping([region], [{start: '0x000000007c000000', end: '0x000000007fffffff', type: 'direct'}]),
      ),
    )
    assert.match(text, /RMRR DMAR\+0x40\s+0x7c000000\s+0x7fffffff\s+0000:00:14\.0\s+direct/)
    assert.match(text, /blocks VFIO: .*requires a 1:1 mapping/)
  })

  it('a relaxable region: said, and not a blocker', () => {
    const text = plain(
      renderDirectMapping(
        directMapping(
          [{...region, relaxable: true}],
          [{start: '0x7c000000', end: '0x7fffffff', type: 'direct-relaxable'}],
        ),
      ),
    )
    assert.match(text, /relaxable \(USB or graphics\)/)
    assert.match(text, /vfio: .*lets VFIO take the device/)
    assert.doesNotMatch(text, /blocks VFIO/)
  })

  it('nothing direct: "none"; a firmware region the kernel did not report is said; notes shown', () => {
    assert.match(plain(renderDirectMapping(directMapping([], []))), /none in the firmware tables$/)
    const unreported = plain(
      renderDirectMapping(directMapping([region], [], ['the firmware tables were not read'])),
    )
    assert.match(unreported, /did not report them for this group/)
    assert.match(unreported, /note: the firmware tables were not read/)
  })

  it('only direct and direct-relaxable reserved regions count; msi does not', () => {
    const m = directMapping([], [{start: '0xfee00000', end: '0xfeefffff', type: 'msi'}])
    assert.deepEqual(m.reserved, [])
    assert.equal(m.summary, null)
  })
})
