import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {MdevList, MdevRecord} from '../../src/model/mdevs.js'
import {renderDevices} from '../../src/render/devices.js'
import {renderMdev, renderMdevs} from '../../src/render/mdevs.js'
import {lineOf, plain} from '../helpers/roots.js'

// What samples/vfio-mdev/mtty.c registers: parent "mtty", types mtty-1 ("Single port serial")
// and mtty-2 ("Dual port serial"), device_api vfio-pci; one dual-port mdev made of the 24 ports.
const U = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001'
const mdev: MdevRecord = {
  uuid: U,
  parent: 'mtty',
  type: 'mtty-2',
  typeName: 'Dual port serial',
  driver: 'mtty',
  group: 14,
  vfioCdev: '/dev/vfio/devices/vfio1',
  sysfsPath: `/sys/devices/virtual/mtty/mtty/${U}`,
}
const list: MdevList = {
  parents: [
    {
      name: 'mtty',
      sysfsPath: '/sys/devices/virtual/mtty/mtty',
      types: [
        {
          id: 'mtty-1',
          name: 'Single port serial',
          description: null,
          deviceApi: 'vfio-pci',
          availableInstances: 22,
          devices: [],
        },
        {
          id: 'mtty-2',
          name: 'Dual port serial',
          description: null,
          deviceApi: 'vfio-pci',
          availableInstances: 11,
          devices: [U],
        },
      ],
    },
  ],
  devices: [mdev],
}

describe('renderMdevs', () => {
  const text = plain(renderMdevs(list))

  it('one row per type with what it can still make, then one per mdev', () => {
    assert.deepEqual(
      text
        .split('\n')
        .find((l) => /^mtty\s+mtty-1/.test(l))!
        .split(/\s{2,}/),
      ['mtty', 'mtty-1', 'Single port serial', 'vfio-pci', '22', '0'],
    )
    assert.deepEqual(
      text
        .split('\n')
        .find((l) => /^mtty\s+mtty-2/.test(l))!
        .split(/\s{2,}/),
      ['mtty', 'mtty-2', 'Dual port serial', 'vfio-pci', '11', '1'],
    )
    assert.deepEqual(lineOf(text, U).split(/\s{2,}/), [
      U,
      'mtty',
      'mtty-2',
      'mtty',
      '14',
      '/dev/vfio/devices/vfio1',
    ])
  })

  it('says so when the host has no parents and no mdevs, and when a parent has none made', () => {
    assert.equal(
      renderMdevs({parents: [], devices: []}),
      'No mediated devices, and no device here that can make them.',
    )
    assert.match(plain(renderMdevs({...list, devices: []})), /mdevs\nNone\.$/)
  })

  it('escapes what a root may hold: a type name with an escape sequence cannot reach the terminal', () => {
    const evil = structuredClone(list)
    evil.parents[0]!.types[0]!.name = 'x\x1b]0;owned\x07'
    const out = renderMdevs(evil)
    assert.ok(!out.includes('\x1b]'), 'the escape is not passed through')
    assert.match(out, /x\\x1b\]0;owned\\x07/)
  })
})

describe('renderMdev and the devices table', () => {
  it('devices show UUID: parent, type with its name, group, cdev, holders', () => {
    const text = plain(renderMdev({...mdev, heldBy: {known: false, holders: [], note: 'unknown'}}))
    assert.match(lineOf(text, 'type'), /^type\s+mtty-2 \(Dual port serial\)$/)
    assert.match(lineOf(text, 'parent'), /^parent\s+mtty$/)
    assert.match(lineOf(text, 'vfio cdev'), /^vfio cdev\s+\/dev\/vfio\/devices\/vfio1$/)
    assert.match(lineOf(text, 'held by'), /^held by\s+unknown \(not the live host\)/)
  })

  it('devices: the mdevs follow the PCI table under their own heading; none, no heading', () => {
    const text = plain(renderDevices([], [mdev]))
    assert.match(
      text,
      /^No PCI devices match\.\n\nmediated devices\nMDEV\s+PARENT\s+TYPE\s+DRIVER\s+GROUP\s+VFIO CDEV\n/,
    )
    assert.doesNotMatch(plain(renderDevices([])), /mediated/)
  })
})
