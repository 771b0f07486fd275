import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {readHostConfig} from '../../src/configure/host-config.js'
import {hostStatus} from '../../src/model/host-status.js'
import {renderHostStatus} from '../../src/render/host.js'
import {column, fixtureRoot, lineOf, plain} from '../helpers/roots.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-render-host-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

// The intel fixture: e1000e 00:03.0 on e1000e, the igb PF 01:00.0 with 2 VFs, group 12 DMA.
const file = path.join(tmp, 'host.yaml')
fs.writeFileSync(
  file,
  'devices:\n  - {bdf: 0000:00:03.0, driver: vfio-pci}\n  - {bdf: 0000:01:00.0, vfs: {count: 2}}\ngroups:\n  - {bdf: 0000:03:00.0, type: DMA}\n',
)

describe('renderHostStatus', async () => {
  const record = hostStatus(fixtureRoot('intel'), await readHostConfig(file))
  const text = plain(renderHostStatus(record))

  it('one row per item: drift where the host differs, ok where it does not', () => {
    const state = column(text, 'STATE')
    const live = column(text, 'LIVE')
    const e1000e = lineOf(text, 'drift')
    assert.match(e1000e, /0000:00:03\.0/)
    assert.equal(live(e1000e), 'e1000e')
    assert.equal(state(lineOf(text, 'ok     devices[1]')), 'ok')
    assert.match(lineOf(text, 'ok     groups[0]'), /group 12 +DMA +DMA/)
  })

  it('the fix of each difference under it, and the summary last', () => {
    const fix = text.split('\n').slice(text.split('\n').indexOf('fix') + 1)
    assert.match(fix[0]!, /^ {2}0000:00:03\.0: e1000e took 0000:00:03\.0 at boot/)
    assert.equal(text.split('\n').at(-1), `1 of 3 differ from ${file}.`)
  })

  it('escapes what the tree named (a driver link) before it reaches the terminal', () => {
    const out = renderHostStatus({...record, items: [{...record.items[0]!, fix: 'took \x1b[2J'}]})
    assert.ok(!out.includes('\x1b[2J'))
  })
})
