import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runScript, ScriptRun, vmIt} from './guest.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-session-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

const E1000E = '0000:00:03.0'

/** The plan of the tests: an IOAS, two maps (anonymous, memfd at a fixed IOVA), an HWPT, an attachment. */
const PLAN = `# iommuctl apply plan (YAML)
version: 1
ioas:
  - name: main
    hugePages: false
maps:
  - name: buf
    ioas: main
    size: 2M
  - name: fixed
    ioas: main
    size: 64K
    iova: "0x100000000"
    memory: memfd
hwpts:
  - name: h1
    ioas: main
    device: "${E1000E}"
attach:
  - device: "${E1000E}"
    to: h1
`

/** The same plan with one entry that the kernel refuses, at each stage after the device bind. */
const FAILING: Record<string, object> = {
  // The IOAS allows 1 MiB of IOVA: the second map finds no room (ENOSPC, iopt_alloc_iova).
  map: {
    version: 1,
    ioas: [{name: 'main', allowIovas: [{start: '0x0', last: '0xfffff'}]}],
    maps: [
      {name: 'small', ioas: 'main', size: '64K'},
      {name: 'big', ioas: 'main', size: '2M'},
    ],
    hwpts: [{name: 'h1', ioas: 'main', device: E1000E}],
  },
  // The guest has no huge pages. Mapping a hugetlbfs memfd succeeds: the kernel pins an IOAS's
  // pages only when a page table is filled, so the HWPT is what fails (ENOMEM).
  pin: {
    version: 1,
    ioas: [{name: 'main'}],
    maps: [
      {name: 'buf', ioas: 'main', size: '2M'},
      {name: 'huge', ioas: 'main', size: '2M', memory: 'hugetlbfs'},
    ],
    hwpts: [{name: 'h1', ioas: 'main', device: E1000E}],
  },
  hwpt: {
    version: 1,
    ioas: [{name: 'main'}],
    maps: [{name: 'buf', ioas: 'main', size: '2M'}],
    hwpts: [
      {name: 'h1', ioas: 'main', device: E1000E},
      {name: 'dirty', ioas: 'main', device: E1000E, flags: ['dirty-tracking']},
    ],
  },
  attach: {
    version: 1,
    ioas: [{name: 'main'}],
    maps: [{name: 'buf', ioas: 'main', size: '2M'}],
    hwpts: [{name: 'h1', ioas: 'main', device: E1000E}],
    attach: [
      {device: E1000E, to: 'h1'},
      {device: E1000E, to: 'h1', pasid: 1},
    ],
  },
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

function json(r: ScriptRun, schema: string): Json {
  assert.equal(r.rc, 0, `${r.out}\n${r.err}`)
  const o = JSON.parse(r.out)
  assertMatchesSchema(schema, o)
  return o
}

function error(r: ScriptRun, code: string, exit = 1): Json {
  assert.equal(r.rc, exit, `${r.out}\n${r.err}`)
  const o = JSON.parse(r.out)
  assertMatchesSchema('error', o)
  assert.equal(o.error.code, code, o.error.message)
  return o.error
}

describe('VM: apply, hold, exec and the session daemon against the kernel', () => {
  vmIt(
    'intel: plans build and tear down; exec and hold hand on the descriptors; the daemon survives abuse',
    async () => {
      fs.writeFileSync(path.join(share, 'plan.yaml'), PLAN)
      for (const [name, plan] of Object.entries(FAILING)) {
        fs.writeFileSync(path.join(share, `fail-${name}.json`), JSON.stringify(plan))
      }
      fs.writeFileSync(
        path.join(share, 'bad-size.json'),
        JSON.stringify({...FAILING.pin, maps: [{name: 'b', ioas: 'main', size: '5000'}]}),
      )
      fs.writeFileSync(
        path.join(share, 'bad-overlap.json'),
        JSON.stringify({
          version: 1,
          ioas: [{name: 'main'}],
          maps: [
            {name: 'a', ioas: 'main', size: '2M', iova: '0x100000000'},
            {name: 'b', ioas: 'main', size: '4K', iova: '0x100100000'},
          ],
        }),
      )
      fs.writeFileSync(
        path.join(share, 'bad-pasid.json'),
        JSON.stringify({...FAILING.attach, attach: [{device: E1000E, to: 'h1', pasid: 1 << 20}]}),
      )
      const read = await runScript(
        'intel',
        share,
        `ic() { node bin/run.js "$@"; }
P=/run/share
ic devices bind ${E1000E} > /dev/null
run apply ic apply $P/plan.yaml --json
run free0 ic hw-info ${E1000E} --json
for f in map pin hwpt attach; do run fail-$f ic apply $P/fail-$f.json --json; run free-$f ic hw-info ${E1000E} --json; done
run badsize ic apply $P/bad-size.json --json
run badoverlap ic apply $P/bad-overlap.json --json
run badpasid ic apply $P/bad-pasid.json --json
run pinlimit ic apply $P/plan.yaml --max-pinned 1M --json
run exec ic apply $P/plan.yaml --exec -- node --import tsx test/vm/guest/exec-child.ts
run exec7 ic apply $P/plan.yaml --exec -- sh -c 'exit 7'
run free-exec ic hw-info ${E1000E} --json
node bin/run.js apply $P/plan.yaml --hold > $dir/hold.out 2>&1 &
HP=$!
for i in $(seq 150); do grep -q holding $dir/hold.out && break; sleep 0.2; done
run held ic hw-info ${E1000E} --json
kill -TERM $HP; wait $HP; echo $? > $dir/hold.rc
run free-hold ic hw-info ${E1000E} --json

# A loaded CI host can take more than the default 30 s to start a daemon in the guest.
run start ic session start --timeout 180 --json
run start2 ic session start --json
run c1 ic domains create ioas --name main --no-huge-pages --json
run m1 ic domains map main 2M --name buf --json
run m2 ic domains map main 64K --iova 0x100000000 --memory memfd --json
run m3 ic domains map main 64K --iova 0x100000000 --json
run m4 ic domains map main 5000 --json
run m5 ic domains map main 4K --iova 4096 --json
run h1 ic domains create hwpt --ioas main --device ${E1000E} --name h1 --json
run a1 ic domains attach ${E1000E} h1 --json
run p1 ic pasid attach ${E1000E} 1048576 h1 --json
run p2 ic pasid attach ${E1000E} 1 h1 --json
run unknown ic domains attach ${E1000E} 99 --json
run busy ic domains destroy main --json
run list ic domains list --json
run status ic session status --json
grep VmPin /proc/$(cat /run/iommuctl/sessions/default.pid)/status > $dir/vmpin
run show ic domains show h1 --json
run sessionheld ic hw-info ${E1000E} --json
run flood node --import tsx test/vm/guest/flood.ts /run/iommuctl/sessions/default.sock 3000
run status2 ic session status --json
run d1 ic domains detach ${E1000E} --json
run u1 ic domains unmap main 0x100000000 --json
run u2 ic domains unmap main buf --json
run u3 ic domains unmap main buf --json
cat /run/iommuctl/sessions/default.pid > $dir/pid
run stop ic session stop --json
kill -0 $(cat $dir/pid) 2>/dev/null; echo $? > $dir/alive
ls /run/iommuctl/sessions > $dir/left
run free-stop ic hw-info ${E1000E} --json
run nosession ic domains create ioas --json
run listnone ic domains list --json
run capstart ic session start --name capped --max-pinned 1M --timeout 180 --json
run capc ic domains create ioas --session capped --name m --json
run capmap ic domains map m 2M --session capped --json
run capok ic domains map m 512K --session capped --json
CP=$(cat /run/iommuctl/sessions/capped.pid)
kill -TERM $CP
# Until the daemon has exited: it removes its socket, then its pid file, on the way out.
for i in $(seq 300); do kill -0 $CP 2>/dev/null || break; sleep 0.1; done
ls /run/iommuctl/sessions > $dir/capleft
run capgone ic session status --session capped --json`,
        900_000,
      )

      // The plan: devices bound first, then IOAS, maps, HWPT, attachment. Object ids come from the
      // iommufd's xarray (XA_FLAGS_ALLOC1, lowest free id): device 1, IOAS 2, HWPT 3.
      const applied = json(read('apply'), 'apply')
      assert.deepEqual(
        applied.steps.map((s: Json) => s.entry),
        ['devices[0]', 'ioas[0]', 'maps[0]', 'maps[1]', 'hwpts[0]', 'attach[0]'],
      )
      assert.deepEqual(
        [0, 1, 3, 4, 5].map((i) => applied.steps[i].result),
        ['dev 1', 'ioas 2', 'iova 0x100000000', 'hwpt 3', 'pt 3'],
      )
      assert.match(applied.steps[2].result, /^iova 0x[0-9a-f]+$/)
      const objects = applied.state.objects.map((o: Json) => [o.id, o.kind, o.name ?? o.bdf])
      assert.deepEqual(objects, [
        [1, 'device', E1000E],
        [2, 'ioas', 'main'],
        [3, 'hwpt', 'h1'],
      ])
      assert.equal(applied.state.objects[0].attachedTo, 3)
      assert.equal(
        applied.state.objects[1].hugePages,
        false,
        'IOMMU_OPTION_HUGE_PAGES read back from the kernel',
      )
      assert.equal(applied.state.pinnedBytes, (2 << 20) + (64 << 10))
      json(read('free0'), 'hw-info')

      // A failing entry: named, explained, and nothing left (another process binds the device).
      for (const [name, entry, errno] of [
        ['map', 'maps[1]', 'ENOSPC'],
        ['pin', 'hwpts[0]', 'ENOMEM'],
        ['hwpt', 'hwpts[1]', 'EOPNOTSUPP'],
        ['attach', 'attach[1]', 'EINVAL'],
      ] as const) {
        const e = error(read(`fail-${name}`), 'APPLY_FAILED')
        assert.match(e.message, new RegExp(`^${entry.replace(/[[\]]/g, '\\$&')} \\(`), e.message)
        assert.match(e.message, /Everything made before it was torn down/)
        assert.equal(e.errno, errno, e.message)
        json(read(`free-${name}`), 'hw-info')
      }
      // Bad input, caught before /dev/iommu is opened: the entry and field are named.
      assert.match(
        error(read('badsize'), 'BAD_PLAN', 2).message,
        /^maps\[0\]\.size: 5000 is not a multiple of the 4 KiB page size/,
      )
      assert.match(
        error(read('badoverlap'), 'BAD_PLAN', 2).message,
        /^maps\[1\]\.iova: .* overlaps maps\[0\]/,
      )
      assert.match(error(read('badpasid'), 'BAD_PLAN', 2).message, /^attach\[0\]\.pasid: must be <= 1048575/)
      assert.match(
        error(read('pinlimit'), 'APPLY_FAILED').message,
        /maps\[0\].*over this session's limit of 1048576/,
      )

      // --exec: the child uses the inherited iommufd (fd 3) and the IOAS id it was told.
      const child = JSON.parse(read('exec').out)
      assert.equal(child.fd, 3)
      assert.equal(child.devices, `${E1000E}=4`)
      assert.deepEqual(child.objects, {main: 2, h1: 3})
      assert.ok(child.ranges.length > 0)
      assert.equal(read('exec7').rc, 7, 'apply exits with the command status')
      json(read('free-exec'), 'hw-info')
      // --hold: the device is held (a second bind is refused) until SIGTERM; then all is released.
      assert.match(
        error(read('held'), 'SYSCALL_FAILED').message,
        /VFIO_DEVICE_BIND_IOMMUFD failed \(EINVAL\)/,
      )
      assert.equal(read.file('hold.rc').trim(), '0')
      json(read('free-hold'), 'hw-info')

      // The session daemon.
      assertMatchesSchema('session-start', JSON.parse(read('start').out))
      error(read('start2'), 'SESSION_EXISTS')
      assert.deepEqual(json(read('c1'), 'object-id'), {id: 1})
      assert.match(json(read('m1'), 'mapping').iova, /^0x/)
      assert.equal(json(read('m2'), 'mapping').iova, '0x100000000')
      assert.equal(error(read('m3'), 'SYSCALL_FAILED').errno, 'EEXIST')
      assert.match(error(read('m4'), 'BAD_REQUEST', 2).message, /not a multiple of the page size/)
      // The daemon's refusal names the op and field, and the client exits with its exit code.
      assert.match(error(read('m5'), 'BAD_REQUEST', 2).message, /^map\.args\.iova: must match pattern/)
      assert.deepEqual(json(read('h1'), 'object-id'), {id: 3}, 'the device bound as 2, the HWPT is 3')
      assert.deepEqual(json(read('a1'), 'object-id'), {id: 3})
      error(read('p1'), 'USAGE', 2)
      assert.equal(error(read('p2'), 'SYSCALL_FAILED').errno, 'EINVAL')
      error(read('unknown'), 'NO_SUCH_OBJECT')
      assert.match(error(read('busy'), 'IN_USE').message, /hwpt 3/)
      const list = json(read('list'), 'domains')
      assert.ok(list.defaultDomains.some((d: Json) => d.devices.includes(E1000E)))
      assert.deepEqual(
        list.session.state.objects.map((o: Json) => o.kind),
        ['ioas', 'device', 'hwpt'],
      )
      const status = json(read('status'), 'session-state')
      assert.equal(status.objects[0].hugePages, false)
      assert.equal(status.pinnedBytes, (2 << 20) + (64 << 10))
      // What the daemon reports is what the kernel counts: iommufd adds the pages it pins for an
      // attached domain to the daemon's pinned_vm, which /proc shows as VmPin.
      assert.match(read.file('vmpin'), new RegExp(`^VmPin:\\s+${((2 << 20) + (64 << 10)) / 1024} kB$`, 'm'))
      assert.deepEqual(json(read('show'), 'session-object').parent, 1)
      error(read('sessionheld'), 'SYSCALL_FAILED')

      // Thousands of malformed requests, concurrent clients, clients killed mid-request: every bad
      // request gets an error, and the daemon's state afterwards is exactly what it was.
      const flood = JSON.parse(read('flood').out)
      assert.equal(flood.sent, 3000)
      assert.equal(flood.responses, 3000)
      assert.equal(flood.errors, 3000)
      assert.equal(flood.concurrentOk, 8)
      assert.equal(flood.killed, 5)
      assert.deepEqual(flood.oversized, ['TOO_LONG'])
      assert.deepEqual(json(read('status2'), 'session-state').objects, status.objects)
      json(read('d1'), 'done')
      assert.equal(json(read('u1'), 'mapping').length, '0x10000')
      // By name: the mapping m1 made (--name buf), then nothing left by that name.
      const byName = json(read('u2'), 'mapping')
      assert.deepEqual([byName.name, byName.length], ['buf', '0x200000'])
      assert.match(error(read('u3'), 'NO_SUCH_MAPPING').message, /is named buf/)

      // Stopped: the process is gone, its socket and pid file too, the device binds elsewhere.
      assertMatchesSchema('session-stop', JSON.parse(read('stop').out))
      assert.equal(read.file('alive').trim(), '1')
      assert.equal(read.file('left').trim(), 'default.log')
      json(read('free-stop'), 'hw-info')
      assert.match(error(read('nosession'), 'NO_SESSION').suggestion, /session start/)
      assert.equal(json(read('listnone'), 'domains').session, null)

      // The pin cap of a daemon (--max-pinned), and SIGTERM: everything torn down, socket gone.
      assertMatchesSchema('session-start', JSON.parse(read('capstart').out))
      json(read('capc'), 'object-id')
      assert.match(error(read('capmap'), 'PIN_LIMIT').message, /over this session's limit of 1048576/)
      assert.equal(json(read('capok'), 'mapping').length, '0x80000')
      assert.doesNotMatch(read.file('capleft'), /capped\.(sock|pid)/)
      error(read('capgone'), 'NO_SESSION')
    },
  )
})
