// readDebugfs on hand-made roots: each reason a debugfs file cannot be read is told apart, and
// none of them throws.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {readDebugfs} from '../../src/sysfs/debugfs.js'
import {Root} from '../../src/sysfs/root.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-debugfs-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

const FILE = '/sys/kernel/debug/iommu/intel/dmar_translation_struct'

function rootWith(name: string, dirs: string[], files: Record<string, string> = {}): Root {
  const dir = path.join(tmp, name)
  for (const d of dirs) fs.mkdirSync(path.join(dir, d), {recursive: true})
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), {recursive: true})
    fs.writeFileSync(path.join(dir, f), text)
  }
  return new Root(dir)
}

describe('readDebugfs', () => {
  it('read: the text, no note', () => {
    const r = readDebugfs(rootWith('read', [], {[FILE]: 'IOMMU dmar0: Root Table Address: 0x1\n'}), FILE)
    assert.deepEqual([r.state, r.note, r.text], ['read', null, 'IOMMU dmar0: Root Table Address: 0x1'])
  })

  it('an empty /sys/kernel/debug: not mounted (captured without it, under a root)', () => {
    const r = readDebugfs(rootWith('empty', ['sys/kernel/debug']), FILE)
    assert.equal(r.state, 'not-mounted')
    assert.match(r.note!, /captured without debugfs/)
  })

  it('debugfs without iommu/, or without iommu/intel/: not built, naming the option', () => {
    const noIommu = readDebugfs(rootWith('no-iommu', ['sys/kernel/debug/tracing']), FILE)
    assert.equal(noIommu.state, 'not-built')
    assert.match(noIommu.note!, /CONFIG_IOMMU_DEBUGFS/)
    const noIntel = readDebugfs(rootWith('no-intel', ['sys/kernel/debug/iommu/amd']), FILE)
    assert.equal(noIntel.state, 'not-built')
    assert.match(noIntel.note!, /CONFIG_INTEL_IOMMU_DEBUGFS/)
  })

  it('the directory there but not the file: absent', () => {
    const r = readDebugfs(rootWith('absent', ['sys/kernel/debug/iommu/intel/0000:00:03.0']), FILE)
    assert.equal(r.state, 'absent')
  })

  it('a directory where the file should be: unreadable, with the reason', () => {
    const r = readDebugfs(rootWith('dir', [FILE.slice(1)]), FILE)
    assert.equal(r.state, 'unreadable')
    assert.match(r.note!, /is a directory, not a regular file/)
  })

  it(
    'a file this user may not read: not root',
    {skip: process.getuid?.() === 0 ? 'root reads any file' : false},
    () => {
      const root = rootWith('denied', [], {[FILE]: 'x'})
      fs.chmodSync(path.join(root.dir, FILE), 0)
      assert.equal(readDebugfs(root, FILE).state, 'not-root')
    },
  )
})
