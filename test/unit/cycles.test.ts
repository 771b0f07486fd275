import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

// scripts/check-cycles.js, run as `npm run lint` runs it, on synthetic trees and on src/.
const script = path.resolve('scripts/check-cycles.js')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-cycles-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

function tree(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, name)
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), {recursive: true})
    fs.writeFileSync(path.join(dir, rel), text)
  }
  return dir
}

const check = (dir: string) => spawnSync(process.execPath, [script, dir], {encoding: 'utf8'})

/** The cycles the script names in a tree it must fail on. */
function cyclesIn(name: string, files: Record<string, string>): string[] {
  const r = check(tree(name, files))
  assert.equal(r.status, 1, r.stdout + r.stderr)
  return r.stderr.split('\n').filter((l) => l.startsWith('Import cycle'))
}

describe('scripts/check-cycles.js', () => {
  it('fails on a cycle made only of a type import, naming its files in order', () => {
    const cycles = cyclesIn('type-only', {
      'errors.ts': "import type {Step} from './configure/step.js'\nexport type E = {step: Step}\n",
      'configure/step.ts': "import {type E} from '../errors.js'\nexport interface Step {e?: E}\n",
      'leaf.ts': "import {x} from 'node:fs'\n",
    })
    assert.deepEqual(cycles, ['Import cycle: configure/step.ts -> errors.ts -> configure/step.ts'])
  })

  it('follows export-from, multi-line imports and import() types, and names each cycle once', () => {
    const cycles = cyclesIn('forms', {
      'a.ts': "export {b} from './b.js'\n",
      'b.ts': "import {\n  c,\n} from './c.js'\nexport const b = c\n",
      'c.ts': "export type A = import('./a.js').T\nexport const c = 1\n",
      'd.ts': "import './e.js'\n",
      'e.ts': "import {d} from './d.js'\n",
    })
    assert.deepEqual(cycles, [
      'Import cycle: a.ts -> b.ts -> c.ts -> a.ts',
      'Import cycle: d.ts -> e.ts -> d.ts',
    ])
  })

  it('ignores imports that are commented out, and passes a tree without a cycle', () => {
    const dir = tree('acyclic', {
      'a.ts': "// import {b} from './b.js'\n/* import {b} from './b.js' */\nimport {c} from './c.js'\n",
      'b.ts': "import {a} from './a.js'\n",
      'c.ts': 'export const c = 1\n',
    })
    const r = check(dir)
    assert.equal(r.status, 0, r.stdout + r.stderr)
  })

  it('finds no cycle in src/', () => {
    const r = check(path.resolve('src'))
    assert.equal(r.status, 0, r.stdout + r.stderr)
  })
})
