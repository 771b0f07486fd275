import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {DiffReport, diffRoots} from '../../src/model/diff.js'
import {renderDiff} from '../../src/render/diff.js'
import {fixtureRoot, plain} from '../helpers/roots.js'

describe('renderDiff', () => {
  it('one line per change with its sign, then the count', () => {
    const r = diffRoots(fixtureRoot('intel'), fixtureRoot('virtio'))
    const text = plain(renderDiff(r))
    const rows = text.split('\n').filter((l) => /^[+~<>-] /.test(l))
    assert.equal(rows.length, r.changes.length)
    assert.match(text, /^- +unit +dmar0 +removed +intel-vtd +-$/m)
    assert.match(text.split('\n').at(-1)!, new RegExp(`^${r.changes.length} differences$`))
  })

  it('the same root twice: says so in one line', () => {
    const r = diffRoots(fixtureRoot('none'), fixtureRoot('none'))
    assert.equal(r.same, true)
    assert.match(renderDiff(r), /^No differences between \S+ and \S+ in units, groups, devices or status\.$/)
  })

  it('values from a root are escaped: a driver name cannot move the cursor', () => {
    const r: DiffReport = {
      a: 'a',
      b: 'b',
      same: false,
      changes: [
        {
          area: 'device',
          subject: '0000:00:03.0',
          change: 'changed',
          field: 'driver',
          before: 'e1000e',
          after: 'x\u001b[2Jy',
        },
      ],
    }
    const text = renderDiff(r)
    assert.ok(!text.includes('\u001b[2J'))
    assert.match(plain(text), /x\\x1b\[2Jy/)
  })
})
