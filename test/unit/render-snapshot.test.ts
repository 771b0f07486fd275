import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {renderSnapshot, renderUnreadable} from '../../src/render/snapshot.js'
import type {SnapshotResult} from '../../src/snapshot/snapshot.js'
import {listGroups, listUnits} from '../../src/sysfs/inventory.js'
import {fixtureRoot, lineOf} from '../helpers/roots.js'

const virtio = fixtureRoot('virtio')
const result: SnapshotResult = {
  output: '/home/me/work/host.tar.gz',
  format: 'tar.gz',
  source: '/',
  capturedAt: '2026-01-01T00:00:00.000Z',
  kernel: '7.2.0',
  privileged: false,
  units: listUnits(virtio),
  groups: [...listGroups(virtio), {id: 99, type: null, devices: []}],
  pciDevices: ['0000:00:00.0', '0000:00:03.0'],
  devNodes: [],
  unreadable: [],
  warnings: [],
}

describe('renderSnapshot', () => {
  it('where it went, relative to the working directory when beneath it', () => {
    const text = renderSnapshot(result, {toStdout: false, cwd: '/home/me'})
    assert.equal(text.split('\n')[0], 'Snapshot written to work/host.tar.gz (tar.gz)')
    const elsewhere = renderSnapshot(result, {toStdout: false, cwd: '/srv'})
    assert.equal(elsewhere.split('\n')[0], 'Snapshot written to /home/me/work/host.tar.gz (tar.gz)')
    assert.match(renderSnapshot(result, {toStdout: true, cwd: '/home/me'}), /^Snapshot written to stdout /)
  })

  it('each unit with its kind and devices, the groups counted by type, an unknown type as such', () => {
    const text = renderSnapshot(result, {toStdout: false, cwd: '/'})
    assert.match(lineOf(text, 'units'), /^ {2}units {4}2: 0000:00:02\.0 \(virtio-iommu, 9 devices\), /)
    assert.match(lineOf(text, 'groups'), /groups {3}8 \(DMA-FQ: 7, unknown: 1\)$/)
    assert.match(lineOf(text, 'devices'), /2 PCI$/)
    assert.match(lineOf(text, 'kernel'), /7\.2\.0$/)
  })

  it('no /dev nodes and no units are said, not left blank', () => {
    const text = renderSnapshot({...result, units: [], kernel: null}, {toStdout: false, cwd: '/'})
    assert.match(lineOf(text, '/dev'), /no \/dev\/iommu or \/dev\/vfio nodes$/)
    assert.match(lineOf(text, 'units'), /units {4}0$/)
    assert.match(lineOf(text, 'kernel'), /unknown$/)
  })
})

describe('renderUnreadable', () => {
  it('nothing when every file was read; otherwise the count, then each file with why', () => {
    assert.equal(renderUnreadable(result), null)
    const text = renderUnreadable({
      ...result,
      unreadable: [{path: '/sys/firmware/acpi/tables/DMAR', reason: 'EACCES (root only)'}],
    })
    assert.equal(text, 'Could not read 1 file(s):\n  /sys/firmware/acpi/tables/DMAR: EACCES (root only)')
  })
})
