// scanHolders over a hand-made proc tree (pid directories with fd symlinks and comm files, built
// here), and over this machine's real /proc with a real child process holding a file open.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {scanHolders} from '../../src/sysfs/holders.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-holders-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

const CDEV = '/dev/vfio/devices/vfio0'
const GROUP = '/dev/vfio/7'
const DEV_DIR = '/sys/devices/pci0000:00/0000:00:03.0'

/** HAND-MADE: a /proc with the processes given, each a comm (or none) and its fds' link targets. */
function procTree(name: string, procs: Record<string, {comm?: string; fds?: string[]}>): string {
  const proc = path.join(tmp, name)
  fs.mkdirSync(proc)
  for (const [pid, p] of Object.entries(procs)) {
    fs.mkdirSync(path.join(proc, pid))
    if (p.comm !== undefined) fs.writeFileSync(path.join(proc, pid, 'comm'), p.comm)
    if (p.fds === undefined) continue
    fs.mkdirSync(path.join(proc, pid, 'fd'))
    p.fds.forEach((target, i) => fs.symlinkSync(target, path.join(proc, pid, 'fd', String(i))))
  }
  return proc
}

describe('scanHolders over a hand-made proc tree', () => {
  const proc = procTree('proc', {
    '100': {comm: 'python3\n', fds: ['/dev/null', CDEV]},
    '200': {comm: 'qemu-system-x86\n', fds: ['socket:[1234]', GROUP, CDEV]},
    '300': {comm: 'bash\n', fds: ['/dev/null', '/dev/vfio/70', '/dev/vfio/devices/vfio01']},
    // Gone since its directory was listed: no fd directory any more, no comm.
    '400': {},
    // Gone between the fd readlink and the comm read.
    '500': {fds: [CDEV]},
    '600': {comm: 'lspci\n', fds: [`${DEV_DIR}/config`, `${DEV_DIR}0/config`]},
  })
  fs.mkdirSync(path.join(proc, 'self'))
  fs.mkdirSync(path.join(proc, '0700'))

  it('names each process holding the cdev or the group node once, with its command', () => {
    const scan = scanHolders([CDEV, GROUP], [], {proc, self: 1})
    assert.deepEqual(
      scan.holders.map((h) => [h.pid, h.command, h.path]),
      [
        [100, 'python3', CDEV],
        [200, 'qemu-system-x86', GROUP],
        [500, '?', CDEV],
      ],
    )
    assert.equal(scan.truncated, false)
  })

  it('leaves out this process, names that only look alike, and non-pid entries', () => {
    const scan = scanHolders([CDEV, GROUP], [], {proc, self: 100})
    assert.ok(!scan.holders.some((h) => h.pid === 100))
    assert.ok(!scan.holders.some((h) => h.pid === 300))
  })

  it('a file under a device directory counts; one under a longer name does not', () => {
    const scan = scanHolders([], [DEV_DIR], {proc, self: 1})
    assert.deepEqual(
      scan.holders.map((h) => [h.pid, h.path]),
      [[600, `${DEV_DIR}/config`]],
    )
  })

  it('stops at its bound on processes and says so', () => {
    const scan = scanHolders([CDEV], [], {proc, self: 1, limits: {processes: 1, fdsPerProcess: 16}})
    assert.equal(scan.truncated, true)
    assert.ok(scan.holders.length <= 1)
  })

  it("stops at its bound on one process's descriptors and says so", () => {
    const scan = scanHolders([CDEV], [], {proc, self: 1, limits: {processes: 100, fdsPerProcess: 1}})
    assert.equal(scan.truncated, true)
    assert.ok(!scan.holders.some((h) => h.pid === 100), 'its cdev is its second descriptor')
  })

  it('reads at most 64 bytes of a comm', () => {
    const big = procTree('big', {'42': {comm: 'x'.repeat(100000), fds: [CDEV]}})
    assert.equal(scanHolders([CDEV], [], {proc: big, self: 1}).holders[0]!.command.length, 64)
  })

  it('no proc at all: nobody, not an error', () => {
    assert.deepEqual(scanHolders([CDEV], [], {proc: path.join(tmp, 'absent')}).holders, [])
  })

  it(
    'a process whose fds this user may not read is counted as denied',
    {skip: process.getuid?.() === 0 ? 'running as root, which may read every fd directory' : false},
    () => {
      const denied = procTree('denied', {'77': {comm: 'secret\n', fds: [CDEV]}})
      fs.chmodSync(path.join(denied, '77', 'fd'), 0)
      try {
        const scan = scanHolders([CDEV], [], {proc: denied, self: 1})
        assert.equal(scan.denied, 1)
        assert.deepEqual(scan.holders, [])
      } finally {
        fs.chmodSync(path.join(denied, '77', 'fd'), 0o755)
      }
    },
  )
})

describe("scanHolders over this machine's /proc", () => {
  it('finds a real child process holding a file open, by pid and command', async () => {
    const file = path.join(tmp, 'held')
    fs.writeFileSync(file, '')
    const fd = fs.openSync(file, 'r')
    const child = spawn('sleep', ['30'], {stdio: [fd, 'ignore', 'ignore']})
    fs.closeSync(fd)
    try {
      await new Promise((resolve) => child.once('spawn', resolve))
      // exec has replaced the forked node with sleep once its comm says so.
      let found
      for (let i = 0; i < 50; i++) {
        found = scanHolders([file]).holders.find((h) => h.pid === child.pid)
        if (found?.command === 'sleep') break
        await new Promise((r) => setTimeout(r, 100))
      }
      assert.deepEqual(found, {pid: child.pid, command: 'sleep', path: file})
    } finally {
      child.kill()
    }
  })
})
