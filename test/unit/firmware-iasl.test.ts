// Every real DMAR and IVRS in ../shared/realdata/acpi decoded and compared field by field with
// ACPICA's iasl decode of the same bytes (test/helpers/iasl-compare.ts): the .iasl.txt beside a
// curated table, or `iasl -d` run here on a copy in a temporary directory.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'

import {decodeDmar} from '../../src/decode/dmar.js'
import {decodeIvrs} from '../../src/decode/ivrs.js'
import {ACPI_REALDATA, iaslDecode, iaslMissing, realdataMissing} from '../helpers/iasl.js'
import {compareFile, newTally, report} from '../helpers/iasl-compare.js'

const skip = realdataMissing() ?? iaslMissing() ?? false

describe('DMAR and IVRS decode against iasl, on real tables', {skip}, () => {
  it('agrees field by field on every curated table (80 with .iasl.txt, 9 disassembled here)', () => {
    const dir = path.join(ACPI_REALDATA, 'curated')
    const bins = fs.readdirSync(dir).filter((f) => f.endsWith('.bin'))
    const tally = newTally()
    let disassembledHere = 0
    for (const f of bins) {
      const bin = path.join(dir, f)
      const beside = bin.replace(/\.bin$/, '.iasl.txt')
      let iasl: string
      if (fs.existsSync(beside)) iasl = fs.readFileSync(beside, 'utf8')
      else {
        disassembledHere++
        iasl = iaslDecode(fs.readFileSync(bin), f.slice(0, 4))
      }
      compareFile(f, fs.readFileSync(bin), iasl, tally)
    }
    report(`curated (${disassembledHere} disassembled here)`, tally, bins.length)
    assert.equal(bins.length, 89)
    assert.deepEqual(tally.disagree, [])
    assert.deepEqual(tally.missed, [], tally.missed.join('\n'))
    assert.ok(tally.agree > 5000, `only ${tally.agree} fields compared`)
  })

  it('decodes every table of realdata/acpi/all, sound or with its problem named, and agrees with iasl', () => {
    const dir = path.join(ACPI_REALDATA, 'all')
    const bins = fs.readdirSync(dir).filter((f) => f.endsWith('.bin'))
    const tally = newTally()
    const problems: string[] = []
    for (const f of bins) {
      const bin = path.join(dir, f)
      const bytes = fs.readFileSync(bin)
      const t = f.startsWith('dmar') ? decodeDmar(bytes) : decodeIvrs(bytes)
      assert.ok(t.header, `${f}: no header decoded`)
      problems.push(...t.problems.map((p) => `${f}: ${p}`))
      compareFile(f, bytes, iaslDecode(bytes, f.slice(0, 4)), tally)
    }
    report('all', tally, bins.length)
    console.log(
      `all: ${problems.length} problems named${problems.length ? `:\n  ${problems.join('\n  ')}` : ''}`,
    )
    assert.equal(bins.length, 422)
    assert.deepEqual(tally.disagree, [])
    assert.deepEqual(tally.missed, [])
  })
})
