import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {DRIVER_PATTERN, globMatch} from '../../src/configure/drivers.js'
import {InterlockFacts} from '../../src/configure/interlocks.js'
import {Journal} from '../../src/configure/journal.js'
import {DOMAIN_TYPES} from '../../src/configure/set-type.js'
import {IommuctlError} from '../../src/errors.js'
import {BDF_PATTERN} from '../../src/sysfs/inventory.js'
import {PciDeviceSysfs} from '../../src/sysfs/pci.js'
import {Root} from '../../src/sysfs/root.js'
import {REPO} from '../helpers/cli.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-journal-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

describe('modules.alias matching', () => {
  it('matches as fnmatch(3) does for kmod: * ? [set] [!set], everything else literal', () => {
    const alias = 'vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*'
    assert.equal(globMatch(alias, 'vfio_pci:v000015B3d0000101Esv000015B3sd00000001bc02sc00i00'), true)
    assert.equal(globMatch(alias, 'vfio_pci:v000015B3d0000101Fsv000015B3sd00000001bc02sc00i00'), false)
    assert.equal(globMatch(alias, 'pci:v000015B3d0000101Esv000015B3sd00000001bc02sc00i00'), false)
    assert.equal(globMatch('a?c', 'abc'), true)
    assert.equal(globMatch('a?c', 'ac'), false)
    assert.equal(globMatch('v[0-9]x', 'v7x'), true)
    assert.equal(globMatch('v[!0-9]x', 'v7x'), false)
    assert.equal(globMatch('a.b', 'axb'), false, 'a dot is literal')
  })

  it('sets: ranges, negation with ! and ^, a ] first is literal, a [ without ] is literal', () => {
    assert.equal(globMatch('[a-cx]', 'b'), true)
    assert.equal(globMatch('[a-cx]', 'x'), true)
    assert.equal(globMatch('[a-cx]', 'd'), false)
    assert.equal(globMatch('[^a-c]', 'd'), true)
    assert.equal(globMatch('[!a-c]', 'a'), false)
    assert.equal(globMatch('[]]', ']'), true)
    assert.equal(globMatch('[!]]', ']'), false)
    assert.equal(globMatch('[a-]', '-'), true)
    assert.equal(globMatch('a[b', 'a[b'), true)
    assert.equal(globMatch('a\\*', 'a*'), true)
    assert.equal(globMatch('a\\*', 'ab'), false)
    assert.equal(globMatch('*', ''), true)
    assert.equal(globMatch('?', ''), false)
    assert.equal(globMatch('*b*', 'abc'), true)
    assert.equal(globMatch('*b*', 'ac'), false)
  })

  it('a backwards range ([z-a]) matches nothing and does not throw', () => {
    assert.equal(globMatch('v[z-a]', 'vq'), false)
    assert.equal(globMatch('v[!z-a]', 'vq'), false)
    assert.equal(globMatch('*[9-0]*', '5'), false)
  })

  it('a pattern made to backtrack is answered at once (a regex took 2^n steps)', {timeout: 10_000}, () => {
    const text = 'a'.repeat(5000)
    assert.equal(globMatch('*a'.repeat(200) + 'b', text), false)
    assert.equal(globMatch('a*'.repeat(200), text), true)
    assert.equal(globMatch('*?'.repeat(100) + '[!a]', text), false)
  })
})

describe('interlocks over a hostile snapshot', () => {
  it(
    'looping and fanned-out block-device slave links are walked once each, bounded',
    {timeout: 20_000},
    () => {
      // A mount of block device 8:0 whose 20 slaves are each other's slaves: 20^8 calls unbounded.
      const root = path.join(tmp, 'slaves')
      const block = path.join(root, 'sys/devices/virtual/block')
      fs.mkdirSync(path.join(root, 'proc/self'), {recursive: true})
      fs.mkdirSync(path.join(root, 'sys/dev/block'), {recursive: true})
      for (let i = 0; i < 20; i++) fs.mkdirSync(path.join(block, `dm-${i}/slaves`), {recursive: true})
      for (let i = 0; i < 20; i++)
        for (let j = 0; j < 20; j++)
          fs.symlinkSync(`../../dm-${j}`, path.join(block, `dm-${i}/slaves/dm-${j}`))
      fs.symlinkSync('../../devices/virtual/block/dm-0', path.join(root, 'sys/dev/block/8:0'))
      fs.writeFileSync(path.join(root, 'proc/self/mountinfo'), '22 1 8:0 / / rw - ext4 /dev/dm-0 rw\n')
      const facts = new InterlockFacts(new Root(root))
      const dev = {
        bdf: '0000:00:03.0',
        sysfsPath: '/sys/devices/virtual/block/dm-7',
        classCode: null,
        bootVga: null,
      }
      const found = facts.check(dev as unknown as PciDeviceSysfs)
      assert.deepEqual(
        found.map((i) => i.kind),
        ['mounted'],
      )
    },
  )
})

describe('the journal', () => {
  it('saves atomically: the file is whole JSON and no temporary file is left', () => {
    const j = new Journal(path.join(tmp, 'a')).lock()
    j.data.devices['0000:00:03.0'] = {
      driver: 'e1000e',
      driverOverride: null,
      by: 'bind',
      at: 'now',
      pendingPid: 1,
    }
    j.save()
    j.data.devices['0000:00:03.0'] = {...j.data.devices['0000:00:03.0']!, pendingPid: undefined}
    j.save()
    j.unlock()
    assert.deepEqual(fs.readdirSync(path.join(tmp, 'a')), ['journal.json'])
    const back = new Journal(path.join(tmp, 'a')).load()
    assert.equal(back.data.devices['0000:00:03.0']!.driver, 'e1000e')
    assert.equal('pendingPid' in back.data.devices['0000:00:03.0']!, false)
  })

  it('a live holder keeps the lock; a dead one (kill -9 left its lock file) does not', () => {
    const dir = path.join(tmp, 'b')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'lock'), `${process.ppid}\n`)
    assert.throws(() => new Journal(dir).lock(), {code: 'JOURNAL_LOCKED'})
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    })
    fs.writeFileSync(path.join(dir, 'lock'), `${dead.stdout}\n`)
    const j = new Journal(dir).lock()
    assert.equal(fs.readFileSync(path.join(dir, 'lock'), 'utf8'), `${process.pid}\n`)
    j.unlock()
    assert.equal(fs.existsSync(path.join(dir, 'lock')), false)
  })

  it('entries of a run that died are reported as interrupted', () => {
    const dead = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'})
        .stdout,
    )
    const j = new Journal(path.join(tmp, 'c'))
    j.data.devices['0000:00:03.0'] = {
      driver: 'e1000e',
      driverOverride: null,
      by: 'bind',
      at: 'now',
      pendingPid: dead,
    }
    j.data.devices['0000:04:01.0'] = {driver: 'e1000', driverOverride: null, by: 'bind', at: 'now'}
    j.data.groups['1'] = {type: 'DMA', by: 'set-type', at: 'now', pendingPid: dead}
    assert.deepEqual(j.interrupted(), ['0000:00:03.0'])
    assert.deepEqual(j.interruptedGroups(), ['1'])
  })

  it('a journal that is not one is refused, never guessed at', () => {
    const dir = path.join(tmp, 'd')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'journal.json'), '{"format": 1, "devices": ')
    assert.throws(() => new Journal(dir).load(), {code: 'BAD_JOURNAL'})
    fs.writeFileSync(path.join(dir, 'journal.json'), '{"format": 2}')
    assert.throws(() => new Journal(dir).load(), {code: 'BAD_JOURNAL'})
  })

  it('keys and values that would become paths are refused with the field named (schemas/journal.json)', () => {
    const dir = path.join(tmp, 'e')
    fs.mkdirSync(dir)
    const at = '2026-01-01T00:00:00.000Z'
    const dev = {driver: 'e1000e', driverOverride: null, by: 'bind', at}
    const group = {type: 'DMA', by: 'set-type', at, pendingPid: 5}
    for (const [data, message] of [
      [
        {devices: {'../../../../tmp/x': dev}, groups: {}},
        /devices\["\.\.\/\.\.\/\.\.\/\.\.\/tmp\/x"\]: not a BDF/,
      ],
      [
        {devices: {}, groups: {'../../../../tmp/g': group}},
        /groups\["\.\.\/\.\.\/\.\.\/\.\.\/tmp\/g"\]: not a group id/,
      ],
      [{devices: {}, groups: {'07': group}}, /groups\["07"\]: not a group id/],
      [
        {devices: {}, groups: {'1': {...group, type: 'PWNED'}}},
        /groups\["1"\]\.type: not a default domain type/,
      ],
      [{devices: {'0000:00:03.0': {...dev, driver: '../x'}}, groups: {}}, /\.driver: not a driver name/],
      [
        {devices: {'0000:00:03.0': {...dev, driverOverride: 'a/b'}}, groups: {}},
        /\.driverOverride: not a driver name/,
      ],
      [{devices: {'0000:00:03.0': {...dev, pendingPid: -1}}, groups: {}}, /\.pendingPid: not a process id/],
    ] as const) {
      const file = path.join(dir, 'journal.json')
      fs.writeFileSync(file, JSON.stringify({format: 1, ...data}))
      assert.throws(
        () => new Journal(dir).lock(),
        (e: IommuctlError) => e.code === 'BAD_JOURNAL' && e.path === file && message.test(e.message),
      )
      assert.equal(fs.existsSync(path.join(dir, 'lock')), false, 'a refused journal leaves no lock behind')
    }
  })

  it('reads only a regular file of at most 1 MiB, never through a symlink', () => {
    const dir = path.join(tmp, 'f')
    fs.mkdirSync(dir)
    const file = path.join(dir, 'journal.json')
    fs.writeFileSync(path.join(dir, 'real.json'), '{"format": 1, "devices": {}, "groups": {}}')
    fs.symlinkSync('real.json', file)
    assert.throws(() => new Journal(dir).load(), {code: 'BAD_JOURNAL', message: /symbolic link/})
    fs.rmSync(file)
    fs.mkdirSync(file)
    assert.throws(() => new Journal(dir).load(), {code: 'BAD_JOURNAL', message: /not a regular file/})
    fs.rmdirSync(file)
    fs.writeFileSync(file, `{"format": 1, "devices": {}, "groups": {}}${' '.repeat(1 << 20)}`)
    assert.throws(() => new Journal(dir).load(), {code: 'BAD_JOURNAL', message: /1 MiB/})
  })

  it("the schema's patterns are the command line's (BDF_PATTERN, DRIVER_PATTERN)", () => {
    const schema = JSON.parse(fs.readFileSync(path.join(REPO, 'schemas/journal.json'), 'utf8'))
    assert.equal(schema.definitions.JournalData.properties.devices.propertyNames.pattern, BDF_PATTERN.source)
    assert.equal(schema.definitions.DriverName.pattern, DRIVER_PATTERN.source)
    assert.deepEqual([...schema.definitions.JournalDomainType.enum].sort(), [...DOMAIN_TYPES].sort())
  })
})
