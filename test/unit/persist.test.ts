import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {persistEdits} from '../../src/configure/persist.js'
import {IommuctlError} from '../../src/errors.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-persist-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))
let n = 0
const file = (text?: string) => {
  const f = path.join(tmp, `c${n++}`, 'host.yaml')
  fs.mkdirSync(path.dirname(f))
  if (text !== undefined) fs.writeFileSync(f, text)
  return f
}

describe('devices bind/unbind --persist: editing the host config', () => {
  it('makes the file (and its directory) when absent', async () => {
    const f = path.join(tmp, 'new', 'etc', 'host.yaml')
    await persistEdits(f, [{bdf: '0000:00:03.0', driver: 'vfio-pci', group: true}])
    assert.equal(
      fs.readFileSync(f, 'utf8'),
      'devices:\n  - bdf: 0000:00:03.0\n    driver: vfio-pci\n    group: true\n',
    )
  })

  it("edits a device's entry in place, keeping comments and the other entries; a new device goes last", async () => {
    const f = file(
      '# the lab host\ndevices:\n  - bdf: 0000:00:03.0 # the NIC\n    driver: e1000e\n    group: true\nhugepages:\n  - {size: 2M, count: 8}\n',
    )
    await persistEdits(f, [
      {bdf: '0000:00:03.0', driver: 'vfio-pci'},
      {bdf: '0000:04:01.0', driver: 'vfio-pci'},
    ])
    assert.equal(
      fs.readFileSync(f, 'utf8'),
      '# the lab host\ndevices:\n  - bdf: 0000:00:03.0 # the NIC\n    driver: vfio-pci\n  - bdf: 0000:04:01.0\n    driver: vfio-pci\nhugepages:\n  - { size: 2M, count: 8 }\n',
    )
  })

  it('unbind drops the entry; a device with none is no change', async () => {
    const f = file(
      'devices:\n  - bdf: 0000:00:03.0\n    driver: vfio-pci\n  - id: 8086:10c9\n    vfs: {count: 2}\n',
    )
    await persistEdits(f, [
      {bdf: '0000:00:03.0', driver: null},
      {bdf: '0000:09:00.0', driver: null},
    ])
    assert.deepEqual(fs.readFileSync(f, 'utf8'), 'devices:\n  - id: 8086:10c9\n    vfs: { count: 2 }\n')
  })

  it('JSON stays JSON', async () => {
    const f = file('{"devices": [{"bdf": "0000:00:03.0", "driver": "e1000e"}]}\n')
    await persistEdits(f, [{bdf: '0000:00:03.0', driver: 'vfio-pci'}])
    assert.deepEqual(JSON.parse(fs.readFileSync(f, 'utf8')), {
      devices: [{bdf: '0000:00:03.0', driver: 'vfio-pci'}],
    })
  })

  it('never writes through a symlink, nor edits a config that does not pass its schema', async () => {
    const target = file('devices: []\n')
    const link = path.join(tmp, 'link.yaml')
    fs.symlinkSync(target, link)
    await assert.rejects(
      persistEdits(link, [{bdf: '0000:00:03.0', driver: 'vfio-pci'}]),
      (e: IommuctlError) => {
        assert.equal(e.code, 'BAD_CONFIG')
        assert.match(e.message, /symbolic link/)
        return true
      },
    )
    assert.equal(fs.readFileSync(target, 'utf8'), 'devices: []\n')
    assert.ok(fs.lstatSync(link).isSymbolicLink())
    const bad = file('devices:\n  - bdf: 0000:00:03.0\n    colour: blue\n')
    await assert.rejects(persistEdits(bad, [{bdf: '0000:00:03.0', driver: 'vfio-pci'}]), /colour/)
    assert.match(fs.readFileSync(bad, 'utf8'), /colour: blue/)
  })
})
