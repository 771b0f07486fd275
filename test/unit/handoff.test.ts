// Child supervision (exec, fds receive, apply --exec) against real processes, and the pure
// parts of a hand-off: VMM arguments, exit statuses, memlock sizes.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {exitStatus, runChild} from '../../src/handoff/child.js'
import {childArgv, handoffEnv, vmmArgs} from '../../src/handoff/launch.js'
import {parseMemlock, UNLIMITED} from '../../src/handoff/privilege.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-handoff-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

/** A python3 child that writes, as JSON, every descriptor it holds and what it points at. */
const LIST_FDS = `import json, os, sys
fds = {}
for n in os.listdir('/proc/self/fd'):
    try:
        fds[n] = os.readlink('/proc/self/fd/' + n)
    except OSError:
        pass  # the directory listdir itself had open
open(sys.argv[1], 'w').write(json.dumps({'fds': fds, 'env': {k: v for k, v in os.environ.items() if k.startswith('IOMMUCTL_')}}))`

describe('runChild', () => {
  it('places the descriptors at 3, 4, ... and leaks no other', async () => {
    const a = path.join(tmp, 'a')
    const b = path.join(tmp, 'b')
    fs.writeFileSync(a, '')
    fs.writeFileSync(b, '')
    const fa = fs.openSync(a, 'r')
    const fb = fs.openSync(b, 'r')
    const out = path.join(tmp, 'fds.json')
    try {
      const exit = await runChild(['python3', '-c', LIST_FDS, out], {
        fds: [fa, fb],
        env: {...process.env, ...handoffEnv([{bdf: '0000:00:03.0', fd: 4}])},
      })
      assert.equal(exit.status, 0)
    } finally {
      fs.closeSync(fa)
      fs.closeSync(fb)
    }
    const seen = JSON.parse(fs.readFileSync(out, 'utf8'))
    assert.deepEqual(Object.keys(seen.fds).sort(), ['0', '1', '2', '3', '4'])
    assert.equal(seen.fds['3'], a)
    assert.equal(seen.fds['4'], b)
    // Only the two hand-off variables: the test's own environment (IOMMUCTL_REQUIRE_VM in CI) passes through too.
    assert.deepEqual(
      {IOMMUCTL_IOMMUFD_FD: seen.env.IOMMUCTL_IOMMUFD_FD, IOMMUCTL_DEVICE_FDS: seen.env.IOMMUCTL_DEVICE_FDS},
      {IOMMUCTL_IOMMUFD_FD: '3', IOMMUCTL_DEVICE_FDS: '0000:00:03.0=4'},
    )
  })

  it('exits with the code, or 128 + the kernel number of the signal', async () => {
    const run = (script: string) => runChild(['sh', '-c', script], {fds: [], env: process.env})
    assert.deepEqual(await run('exit 7').then((e) => [e.code, e.signal, e.status]), [7, null, 7])
    const segv = await run('kill -SEGV $$')
    assert.deepEqual(
      [segv.code, segv.signal, segv.status],
      [null, 'SIGSEGV', 128 + os.constants.signals.SIGSEGV],
    )
    assert.equal((await run('kill -KILL $$')).status, 137)
    assert.equal(exitStatus(null, 'SIGUSR1'), 128 + 10)
  })

  it('passes SIGTERM and SIGINT on to the child and waits for it', async () => {
    for (const [signal, code] of [
      ['SIGTERM', 42],
      ['SIGINT', 43],
    ] as const) {
      const ready = path.join(tmp, `ready-${signal}`)
      const child = runChild(
        ['sh', '-c', `trap 'exit ${code}' ${signal.slice(3)}; touch ${ready}; while :; do sleep 0.05; done`],
        {fds: [], env: process.env},
      )
      for (let i = 0; i < 250 && !fs.existsSync(ready); i++) await new Promise((r) => setTimeout(r, 20))
      process.kill(process.pid, signal)
      assert.equal((await child).status, code)
    }
  })

  it('says what could not be started', async () => {
    await assert.rejects(runChild(['/nonexistent/vmm'], {fds: [], env: process.env}), (e: Error) => {
      assert.match(e.message, /Cannot run \/nonexistent\/vmm: spawn \/nonexistent\/vmm ENOENT/)
      return true
    })
  })
})

describe('hand-off arguments', () => {
  it('names the iommufd at 3 and each device after it, for QEMU and cloud-hypervisor', () => {
    assert.deepEqual(vmmArgs('qemu', 2), [
      '-object',
      'iommufd,id=iommufd0,fd=3',
      '-device',
      'vfio-pci,iommufd=iommufd0,fd=4',
      '-device',
      'vfio-pci,iommufd=iommufd0,fd=5',
    ])
    assert.deepEqual(vmmArgs('cloud-hypervisor', 1), ['--platform', 'iommufd_fd=3', '--device', 'fd=4'])
  })

  it('puts setpriv in front for --user: groups, gid, uid', () => {
    const user = {name: 'qemu', uid: 64055, gid: 64055, groups: [{name: 'kvm', gid: 108}]}
    assert.deepEqual(
      childArgv(['qemu-system-x86_64', '-S'], ['-object', 'x'], {setpriv: '/usr/bin/setpriv', user}),
      [
        '/usr/bin/setpriv',
        '--reuid=64055',
        '--regid=64055',
        '--groups=108',
        '--',
        'qemu-system-x86_64',
        '-S',
        '-object',
        'x',
      ],
    )
    assert.ok(childArgv(['x'], [], {setpriv: 's', user: {...user, groups: []}}).includes('--clear-groups'))
    assert.deepEqual(childArgv(['x', 'y'], [], null), ['x', 'y'])
  })

  it('reads memlock sizes', () => {
    assert.equal(parseMemlock('256M'), 256n << 20n)
    assert.equal(parseMemlock('4096'), 4096n)
    assert.equal(parseMemlock('unlimited'), UNLIMITED)
    for (const bad of ['12Q', '0', '-1', '1.5G', ''])
      assert.throws(() => parseMemlock(bad), /is not a size/, bad)
  })
})
