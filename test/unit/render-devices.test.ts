import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {deviceRecord, readDevices} from '../../src/model/devices.js'
import {DeviceDetail, deviceDetail} from '../../src/model/direct.js'
import {PciTopology} from '../../src/model/topology.js'
import {renderDevice, renderDevices, unreadableConfigWarning} from '../../src/render/devices.js'
import {column, fixtureRoot, lineOf, plain} from '../helpers/roots.js'

const devices = (name: string) => readDevices(new PciTopology(fixtureRoot(name)), {})
const device = (name: string, bdf: string) => {
  const topology = new PciTopology(fixtureRoot(name))
  return deviceDetail(fixtureRoot(name), topology, deviceRecord(topology, bdf)!)
}

describe('renderDevices', () => {
  const intel = devices('intel')
  const text = plain(renderDevices(intel))

  it('has the columns a user greps, one row per device', () => {
    const [head, ...rows] = text.split('\n')
    assert.deepEqual(head!.split(/\s{2,}/), [
      'DEVICE',
      'CLASS',
      'VENDOR:DEVICE',
      'DRIVER',
      'GROUP',
      'CAPABILITIES',
      'NAME',
    ])
    assert.equal(rows.length, intel.length)
  })

  it("reads by column: the igb PF with its 2 of 8 VFs and ARI, the root ports' ACS", () => {
    const driver = column(text, 'DRIVER')
    const group = column(text, 'GROUP')
    const caps = column(text, 'CAPABILITIES')
    const cls = column(text, 'CLASS')
    const igb = lineOf(text, '0000:01:00.0')
    assert.equal(driver(igb), 'igb')
    assert.equal(cls(igb), '0200')
    assert.equal(caps(igb), 'ARI SR-IOV(2/8)')
    assert.equal(caps(lineOf(text, '0000:00:04.0')), 'ACS')
    // The two e1000 behind the conventional bridge share the bridge's group.
    assert.equal(group(lineOf(text, '0000:04:01.0')), group(lineOf(text, '0000:00:07.0')))
    // No driver and no capabilities read as '-', never as an empty cell.
    assert.equal(driver(lineOf(text, '0000:00:07.0')), '-')
    assert.equal(caps(lineOf(text, '0000:00:03.0')), '-')
  })

  it('says so when no device matches', () => {
    assert.equal(renderDevices([]), 'No PCI devices match.')
  })

  it('marks unreadable capabilities ? and warns, only when config space was short', () => {
    const nonroot = devices('intel-nonroot')
    const caps = column(plain(renderDevices(nonroot)), 'CAPABILITIES')
    assert.equal(caps(lineOf(plain(renderDevices(nonroot)), '0000:00:04.0')), '?')
    assert.match(unreadableConfigWarning(nonroot) ?? '', /readable by root only.*Run as root/)
    assert.equal(unreadableConfigWarning(intel), null)
  })
})

describe('renderDevice', () => {
  it('decodes ACS bit by bit, capability and control lined up', () => {
    const text = plain(renderDevice(device('intel', '0000:00:04.0')))
    const cap = lineOf(text, 'ACS')
    const ctl = lineOf(text, 'ctl:')
    assert.match(cap, /cap: SrcValid\+ TransBlk\+ ReqRedir\+/)
    assert.equal(ctl.indexOf('ctl:'), cap.indexOf('cap:'))
    assert.match(lineOf(text, 'pcie'), /root-port$/)
    assert.match(lineOf(text, 'upstream'), /root bus$/)
    assert.match(lineOf(text, 'ATS'), /absent$/)
  })

  it('lists the VFs of an SR-IOV PF and the PF of a VF', () => {
    const pf = plain(renderDevice(device('intel', '0000:01:00.0')))
    // sysfs sriov_totalvfs: igb caps the 82576's 8 at 7.
    assert.match(lineOf(pf, 'sr-iov'), /2 of 7 VFs enabled: 0000:01:10\.0 0000:01:10\.2$/)
    assert.match(lineOf(pf, 'SR-IOV  '), /numVfs=2/)
    const vf = plain(renderDevice(device('intel', '0000:01:10.0')))
    assert.match(lineOf(vf, 'physical function'), /0000:01:00\.0$/)
  })

  it('without root: says why the capabilities are unknown and decodes none of them', () => {
    const text = plain(renderDevice(device('intel-nonroot', '0000:00:04.0')))
    assert.match(text, /without root.*: unknown .*extended capabilities/)
    assert.doesNotMatch(text, /ACS {5}/)
    assert.match(lineOf(text, 'pcie'), /-$/)
  })

  it('a hand-made conventional device: names, keys aligned, absent facts as -', () => {
    const d: DeviceDetail = {
      ...device('intel', '0000:00:07.0'),
      vendor: {id: '0x8086', name: null},
      driverOverride: 'vfio-pci',
      express: null,
    }
    const text = plain(renderDevice(d))
    assert.match(lineOf(text, 'vendor'), /unknown \[8086\]$/)
    assert.match(lineOf(text, 'driver_override'), /vfio-pci$/)
    assert.match(lineOf(text, 'pcie'), /conventional PCI$/)
    const values = text
      .split('\n\n')[0]!
      .split('\n')
      .map((l) => /^\S.*?\s{2,}(?=\S)/.exec(l)![0].length)
    assert.equal(new Set(values).size, 1, 'every value starts in the same column')
  })
})
