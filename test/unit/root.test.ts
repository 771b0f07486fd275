import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {Root} from '../../src/sysfs/root.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-root-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

describe('Root', () => {
  it('reads attributes trimmed, and absent ones as null rather than a default', () => {
    fs.mkdirSync(path.join(tmp, 'sys/x'), {recursive: true})
    fs.writeFileSync(path.join(tmp, 'sys/x/type'), 'DMA-FQ\n')
    const root = new Root(tmp)
    assert.equal(root.readText('/sys/x/type'), 'DMA-FQ')
    assert.equal(root.readText('/sys/x/missing'), null)
    assert.equal(root.readText('/sys/x/type/below-a-file'), null)
    assert.deepEqual(root.list('/sys/nothing'), [])
  })

  it('resolves relative sysfs links inside the root, never above it', () => {
    fs.mkdirSync(path.join(tmp, 'sys/bus/pci/devices'), {recursive: true})
    fs.symlinkSync(
      '../../../devices/pci0000:00/0000:00:03.0',
      path.join(tmp, 'sys/bus/pci/devices/0000:00:03.0'),
    )
    fs.symlinkSync('../../../../../../../../etc', path.join(tmp, 'sys/bus/pci/devices/escape'))
    const root = new Root(tmp)
    assert.equal(
      root.resolveLink('/sys/bus/pci/devices/0000:00:03.0'),
      '/sys/devices/pci0000:00/0000:00:03.0',
    )
    assert.equal(root.resolveLink('/sys/bus/pci/devices/escape'), '/etc')
    assert.equal(root.linkName('/sys/bus/pci/devices/0000:00:03.0'), '0000:00:03.0')
    assert.equal(root.entryType('/sys/bus/pci/devices/0000:00:03.0'), 'link')
    assert.equal(root.resolveLink('/sys/bus'), null)
  })

  it('reads a device node type, mode, owner and numbers as stat(1) does', () => {
    const node = new Root('/').devNode('/dev/null')
    const [type, mode, owner, group, major, minor] = execFileSync(
      'stat',
      ['-c', '%F %a %U %G %t %T', '/dev/null'],
      {encoding: 'utf8'},
    )
      .trim()
      .replace('character special file', 'char')
      .split(' ')
    assert.deepEqual(node && [node.type, node.mode, node.owner, node.group, node.major, node.minor], [
      type,
      mode!.padStart(4, '0'),
      owner,
      group,
      parseInt(major!, 16),
      parseInt(minor!, 16),
    ])
    assert.equal(new Root('/').devNode('/dev/does-not-exist'), null)
  })
})
