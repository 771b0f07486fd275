import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {errnoOf, IommuctlError} from '../../src/errors.js'
import {printable} from '../../src/printable.js'
import {listGroups, listUnits} from '../../src/sysfs/inventory.js'
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

/**
 * A tree beside a decoy: the decoy file sits outside the root, with content found nowhere else,
 * and every read below must miss it. Each test makes its own root under `base`.
 */
describe('Root contains what it reads', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-contain-'))
  after(() => fs.rmSync(base, {recursive: true, force: true}))
  const DECOY = `decoy-${process.pid}-${Date.now()}-never-read`
  const decoy = path.join(base, 'secret')
  fs.writeFileSync(decoy, DECOY + '\n')
  fs.mkdirSync(path.join(base, 'etc'))
  fs.writeFileSync(path.join(base, 'etc/shadow'), DECOY + '\n')
  const DEV = 'sys/devices/pci0000:00/0000:00:03.0'
  let n = 0

  /** A fresh root holding one PCI device directory; returns the root and the device's on-disk dir. */
  function tree(): {dir: string; dev: string} {
    const dir = path.join(base, `root${n++}`)
    const dev = path.join(dir, DEV)
    fs.mkdirSync(dev, {recursive: true})
    fs.writeFileSync(path.join(dev, 'vendor'), '0x8086\n')
    return {dir, dev}
  }

  /** Every way of reading a path, as text: what any caller could get out of it. */
  function everything(root: Root, p: string): string {
    const out: unknown[] = []
    for (const read of [
      () => root.readText(p),
      () => root.readBytes(p)?.toString('utf8'),
      () => root.list(p),
      () => root.resolveLink(p),
      () => root.stat(p)?.size,
    ]) {
      try {
        out.push(read())
      } catch (error) {
        out.push((error as Error).message)
      }
    }
    return JSON.stringify(out)
  }

  it('takes an absolute link from the root: driver_override -> the decoy reads as absent', () => {
    const {dir, dev} = tree()
    fs.symlinkSync(decoy, path.join(dev, 'driver_override'))
    const root = new Root(dir)
    assert.equal(root.readText(`/${DEV}/driver_override`), null)
    assert.ok(!everything(root, `/${DEV}/driver_override`).includes(DECOY))
    // The same link inside the root finds the root's own file of that name.
    fs.mkdirSync(path.join(dir, path.dirname(decoy)), {recursive: true})
    fs.writeFileSync(path.join(dir, decoy), 'inside\n')
    assert.equal(new Root(dir).readText(`/${DEV}/driver_override`), 'inside')
  })

  it('stops `..` at the root: top -> ../../../.. and driver_override -> top/../../../../../etc/shadow', () => {
    const {dir, dev} = tree()
    // From the device, four levels up is the root itself; the rest of the ..s would leave it.
    fs.symlinkSync('../../../..', path.join(dev, 'top'))
    fs.symlinkSync('top/../../../../../etc/shadow', path.join(dev, 'driver_override'))
    fs.symlinkSync('../../../../../../../../../../secret', path.join(dev, 'label'))
    const root = new Root(dir)
    assert.equal(root.resolveLink(`/${DEV}/top`), '/')
    assert.deepEqual(root.list(`/${DEV}/top`), ['sys'])
    assert.equal(root.readText(`/${DEV}/driver_override`), null)
    assert.equal(root.readText(`/${DEV}/label`), null)
    assert.equal(root.readText(`/${DEV}/top/../../../../etc/shadow`), null)
    for (const p of ['driver_override', 'label', 'top', 'top/../etc/shadow', 'top/../../secret'])
      assert.ok(!everything(root, `/${DEV}/${p}`).includes(DECOY), p)
    // Where the clamped path exists inside the root, that is what is read.
    fs.mkdirSync(path.join(dir, 'etc'))
    fs.writeFileSync(path.join(dir, 'etc/shadow'), 'root-own\n')
    assert.equal(new Root(dir).readText(`/${DEV}/driver_override`), 'root-own')
  })

  it('a unit directory linked out of the root lists and reads nothing of what it points at', () => {
    const {dir} = tree()
    fs.mkdirSync(path.join(dir, 'sys/class/iommu'), {recursive: true})
    fs.symlinkSync(base, path.join(dir, 'sys/class/iommu/dmar0'))
    fs.symlinkSync('../../../../../../../..', path.join(dir, 'sys/class/iommu/dmar1'))
    const root = new Root(dir)
    assert.deepEqual(root.list('/sys/class/iommu/dmar0'), [])
    assert.equal(root.readText('/sys/class/iommu/dmar0/secret'), null)
    assert.equal(root.readText('/sys/class/iommu/dmar1/secret'), null)
    assert.deepEqual(root.list('/sys/class/iommu/dmar1'), ['sys'])
    assert.ok(!JSON.stringify(listUnits(root)).includes(DECOY))
  })

  it('refuses a symlink loop and a chain of more than 40 links with ELOOP, naming the file', () => {
    const {dir, dev} = tree()
    fs.symlinkSync('b', path.join(dev, 'a'))
    fs.symlinkSync('a', path.join(dev, 'b'))
    fs.symlinkSync('self/x', path.join(dev, 'self'))
    for (let i = 0; i < 41; i++) fs.symlinkSync(`l${i + 1}`, path.join(dev, `l${i}`))
    fs.writeFileSync(path.join(dev, 'l41'), 'end\n')
    const root = new Root(dir)
    for (const p of ['a', 'self', 'self/x', 'l0']) {
      assert.throws(
        () => root.readText(`/${DEV}/${p}`),
        (e: IommuctlError) =>
          e.code === 'LINK_LOOP' && e.errno === 'ELOOP' && e.message.includes(`${DEV}/${p}`),
        p,
      )
    }
    assert.throws(() => root.list(`/${DEV}/a`), /more than 40 symlinks/)
    // 40 links are allowed, as the kernel allows them.
    assert.equal(root.readText(`/${DEV}/l1`), 'end')
  })

  it('refuses a FIFO at once instead of waiting for a writer', () => {
    const {dir, dev} = tree()
    execFileSync('mkfifo', [path.join(dev, 'driver_override')])
    const root = new Root(dir)
    const started = Date.now()
    assert.throws(
      () => root.readText(`/${DEV}/driver_override`),
      (e: IommuctlError) =>
        e.code === 'NOT_A_FILE' && /driver_override .*is a FIFO, not a regular file/.test(e.message),
    )
    assert.ok(Date.now() - started < 1000)
  })

  it('refuses a device node, live or linked: /dev/zero never fills memory', () => {
    assert.throws(() => new Root('/').readBytes('/dev/zero'), /\/dev\/zero is a character device/)
    const {dir, dev} = tree()
    fs.symlinkSync('/dev/zero', path.join(dev, 'config'))
    fs.symlinkSync('../../../../../../../../dev/zero', path.join(dev, 'rom'))
    const root = new Root(dir)
    // Inside the root there is no /dev/zero: the link leads nowhere.
    assert.equal(root.readBytes(`/${DEV}/config`), null)
    assert.equal(root.readBytes(`/${DEV}/rom`), null)
  })

  it('refuses a sparse 2 GiB attribute without reading it, naming the file and the limit', () => {
    const {dir, dev} = tree()
    fs.truncateSync((fs.writeFileSync(path.join(dev, 'config'), ''), path.join(dev, 'config')), 2 ** 31)
    const root = new Root(dir)
    const started = Date.now()
    assert.throws(
      () => root.readBytes(`/${DEV}/config`),
      (e: IommuctlError) =>
        e.code === 'FILE_TOO_LARGE' &&
        e.errno === 'EFBIG' &&
        e.message.includes(`/${DEV}/config`) &&
        e.message.includes('4096 bytes'),
    )
    assert.ok(Date.now() - started < 1000)
  })

  it('caps each kind of file at its own limit', () => {
    const {dir, dev} = tree()
    const put = (p: string, bytes: number) => {
      fs.mkdirSync(path.dirname(path.join(dir, p)), {recursive: true})
      fs.writeFileSync(path.join(dir, p), Buffer.alloc(bytes, 0x61))
    }
    put(`${DEV}/page`, 4096)
    put(`${DEV}/more`, 4097)
    put('proc/interrupts', 200_000)
    put('lib/modules/7.2.13/modules.alias', 2_000_000)
    put('boot/config-7.2.13', 5 * 1024 * 1024)
    put('sys/firmware/acpi/tables/DSDT', 100_000)
    const root = new Root(dir)
    assert.equal(root.readBytes(`/${DEV}/page`)?.length, 4096)
    assert.throws(() => root.readBytes(`/${DEV}/more`), /larger than 4096 bytes, the most a sysfs attribute/)
    assert.equal(root.readBytes('/proc/interrupts')?.length, 200_000)
    assert.equal(root.readBytes('/lib/modules/7.2.13/modules.alias')?.length, 2_000_000)
    assert.equal(root.readBytes('/sys/firmware/acpi/tables/DSDT')?.length, 100_000)
    assert.throws(
      () => root.readText('/boot/config-7.2.13'),
      /larger than 4194304 bytes, the most a kernel configuration/,
    )
    void dev
  })

  it('refuses a directory where a file should be', () => {
    const {dir, dev} = tree()
    fs.mkdirSync(path.join(dev, 'driver_override'))
    assert.throws(
      () => new Root(dir).readText(`/${DEV}/driver_override`),
      (e: IommuctlError) => e.code === 'NOT_A_FILE' && /is a directory/.test(e.message),
    )
  })

  it('writes inside the root only, never through a link out of it', () => {
    const {dir, dev} = tree()
    fs.writeFileSync(path.join(dev, 'driver_override'), '(null)\n')
    fs.symlinkSync(decoy, path.join(dev, 'unbind'))
    fs.symlinkSync('../../../../../../secret', path.join(dev, 'bind'))
    const root = new Root(dir)
    root.write(`/${DEV}/driver_override`, 'vfio-pci')
    assert.equal(root.readText(`/${DEV}/driver_override`), 'vfio-pci')
    assert.throws(() => root.write(`/${DEV}/unbind`, 'x'), /ENOENT/)
    assert.throws(() => root.write(`/${DEV}/bind`, 'x'), /ENOENT/)
    assert.throws(() => root.write(`/${DEV}/new-file`, 'x'), /ENOENT/)
    assert.equal(fs.readFileSync(decoy, 'utf8'), DECOY + '\n')
    assert.equal(fs.existsSync(path.join(dev, 'new-file')), false)
  })

  it('validates the manifest: a bad one is a BAD_ROOT usage error, a linked one is contained', () => {
    const manifest = (text: string | null, link?: string) => {
      const {dir} = tree()
      if (text !== null) fs.writeFileSync(path.join(dir, 'iommuctl-snapshot.json'), text)
      if (link) fs.symlinkSync(link, path.join(dir, 'iommuctl-snapshot.json'))
      return () => new Root(dir)
    }
    const bad = (why: RegExp) => (e: IommuctlError) =>
      e.code === 'BAD_ROOT' && e.oclif.exit === 2 && why.test(e.message)
    assert.throws(
      manifest('{"format":1}'),
      bad(/not a valid snapshot manifest: \/ must have required property/),
    )
    assert.throws(manifest('{"format":2}'), bad(/format 2, and this iommuctl reads format 1 only/))
    assert.throws(manifest('[1,'), bad(/is not JSON/))
    assert.throws(manifest(' '.repeat(64 * 1024 * 1024 + 1)), bad(/larger than 67108864 bytes/))
    const good = {
      format: 1,
      tool: 'iommuctl 0.1.0',
      capturedAt: '2026-11-25T02:31:31.015Z',
      kernel: '7.2.13',
      privileged: true,
      devNodes: [],
      unreadable: [],
    }
    assert.throws(manifest(JSON.stringify({...good, devNodes: [{path: '/etc/x'}]})), bad(/\/devNodes\/0/))
    assert.deepEqual(manifest(JSON.stringify(good))().manifest, good)
    // A manifest linked to a file out of the root is not read: the root has no manifest.
    fs.writeFileSync(path.join(base, 'manifest.json'), JSON.stringify({...good, tool: DECOY}))
    assert.equal(manifest(null, path.join(base, 'manifest.json'))().manifest, null)
  })

  it('skips, with a warning, names that are not valid for their kind', () => {
    const {dir} = tree()
    const groups = path.join(dir, 'sys/kernel/iommu_groups')
    for (const g of ['7', '007', 'x', '4294967296'])
      fs.mkdirSync(path.join(groups, g, 'devices'), {recursive: true})
    fs.symlinkSync(`../../../../${DEV}`, path.join(groups, '7/devices/0000:00:03.0'))
    fs.symlinkSync(`../../../../${DEV}`, path.join(groups, '7/devices/not-a-bdf'))
    const units = path.join(dir, 'sys/class/iommu')
    fs.mkdirSync(path.join(units, 'dmar0'), {recursive: true})
    fs.mkdirSync(path.join(units, 'evil\x1b]0;owned\x07'))
    fs.mkdirSync(Buffer.concat([Buffer.from(units + '/latin1-'), Buffer.from([0xe9])]))
    const root = new Root(dir)
    assert.deepEqual(
      listGroups(root).map((g) => [g.id, g.devices]),
      [[7, ['0000:00:03.0']]],
    )
    assert.deepEqual(
      listUnits(root).map((u) => u.name),
      ['dmar0'],
    )
    const warnings = root.warnings.join('\n')
    assert.match(warnings, /iommu_groups: skipped "007", "4294967296", "x": not a group number/)
    assert.match(warnings, /7\/devices: skipped "not-a-bdf": not a PCI address/)
    assert.match(warnings, /skipped "evil\\u001b\]0;owned\\u0007": not a unit name/)
    assert.match(warnings, /skipped 1 name\(s\) that are not valid UTF-8/)
    for (const w of root.warnings) assert.equal(printable(w), w, 'no control character reaches a warning')
  })
})

describe('what reaches a terminal or a JSON error', () => {
  it('printable escapes C0, DEL, C1 and bidirectional controls, and nothing else', () => {
    assert.equal(
      printable('a\x1b[2Jb\x07\x7f\u009b\u202e\n\tü 0000:00:03.0'),
      'a\\x1b[2Jb\\x07\\x7f\\x9b\\u202e\\n\\tü 0000:00:03.0',
    )
  })

  it('errnoOf names a numeric errno, and takes an IommuctlError at its word', () => {
    assert.equal(errnoOf({code: 'ENOENT', errno: -2}), 'ENOENT')
    assert.equal(errnoOf({code: 'ERR_FS_FILE_TOO_LARGE', errno: -27}), 'EFBIG')
    assert.equal(errnoOf({errno: -13}), 'EACCES')
    assert.equal(errnoOf({errno: 13}), 'EACCES')
    assert.equal(errnoOf({errno: 0}), undefined)
    assert.equal(errnoOf(new IommuctlError('EXEC_FAILED', 'x')), undefined)
    assert.equal(errnoOf(new IommuctlError('LINK_LOOP', 'x', {errno: 'ELOOP'})), 'ELOOP')
  })
})
