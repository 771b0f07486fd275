// `exec`, `fds send` and `fds receive` against the kernel, proven with the VMM they are for: the
// host's QEMU, run inside the guest, paused (-S), with the e1000e (82574L, 8086:10d3) handed
// over. Realizing vfio-pci is the whole test: QEMU binds the cdev, allocates its IOAS and HWPT,
// attaches, and maps all guest RAM before its monitor answers. One boot per topology.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runScript, ScriptRun, vmIt} from './guest.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-exec-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

const E1000E = '0000:00:03.0'
const E1000_A = '0000:04:01.0'
const E1000_B = '0000:04:02.0'
/** What QEMU's `info pci` shows for the devices: it prints ids, not names. */
const ID_82574L = '8086:10d3'
const ID_82540EM = '8086:100e'

/** The nested VMM, as the issue ran it: q35, TCG, no default devices, paused, 64 MiB, monitor on stdio. */
const QEMU = 'qemu-system-x86_64 -machine q35 -accel tcg -nodefaults -display none -S -m 64 -monitor stdio'
const QEMU_ARGS = (fd = 4) => `-object iommufd,id=iommufd0,fd=3 -device vfio-pci,iommufd=iommufd0,fd=${fd}`

/** A child that prints the descriptors it holds, and where they point. */
const LIST_FDS = `import json, os
fds = {}
for n in os.listdir('/proc/self/fd'):
    try:
        fds[n] = os.readlink('/proc/self/fd/' + n)
    except OSError:
        pass
print(json.dumps({'fds': fds, 'env': {k: v for k, v in os.environ.items() if k.startswith('IOMMUCTL_')}}))`

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

/** The JSON document in a stream, after the shell's trace lines (runScript runs under set -x). */
function jsonIn(text: string): Json {
  const at = text.startsWith('{') ? 0 : text.indexOf('\n{') + 1
  assert.ok(at >= 0 && text[at] === '{', `no JSON in:\n${text}`)
  return JSON.parse(text.slice(at))
}

/** The JSON record exec and fds receive write to stderr (stdout is the child's), schema-checked. */
function stderrJson(r: ScriptRun, schema: string): Json {
  const o = jsonIn(r.err)
  assertMatchesSchema(schema, o)
  return o
}

function refusal(r: ScriptRun, code: string, exit: number, stream: 'out' | 'err' = 'err'): Json {
  assert.equal(r.rc, exit, `${r.out}\n${r.err}`)
  const o = jsonIn(r[stream])
  assertMatchesSchema('error', o)
  assert.equal(o.error.code, code, o.error.message)
  return o.error
}

/** QEMU ran to its monitor with the device realized: `info pci` lists it. */
function realized(r: ScriptRun, ids: string[], what: string): void {
  assert.equal(r.rc, 0, `${what}: rc ${r.rc}\n${r.out}\n${r.err}`)
  for (const id of ids) assert.match(r.out, new RegExp(`Ethernet controller: PCI device ${id}`), what)
}

const PRELUDE = `ic() { node bin/run.js "$@"; }
E=${E1000E}; A=${E1000_A}; B=${E1000_B}
Q="${QEMU}"
T=/run/tmp
P=/run/share
QI='info pci
quit'
# feed QEMU's monitor, keep what it printed: qrun NAME CMD...
qrun() { name=$1; shift; printf '%s\\n' "$QI" | "$@" > $dir/$name.out 2> $dir/$name.err; echo $? > $dir/$name.rc; }
qpid() { for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = qemu-system-x86 ] && echo \${p#/proc/}; done | head -1; }
waitfor() { for i in $(seq 600); do eval "$1" && return 0; sleep 0.2; done; return 1; }
`

describe('VM: exec and fds hand a bare iommufd and unbound cdevs to QEMU', () => {
  vmIt(
    'intel: QEMU takes the e1000e from exec (as nobody, as root with --check), from fds receive, and a group of two; apply --exec is refused by QEMU; refusals',
    async () => {
      fs.writeFileSync(
        path.join(share, 'bind.yaml'),
        `version: 1\nioas:\n  - name: main\nattach:\n  - device: "${E1000E}"\n    to: main\n`,
      )
      fs.writeFileSync(
        path.join(share, 'handoff.yaml'),
        `version: 1\nioas:\n  - name: main\nhandoff:\n  - "${E1000E}"\n`,
      )
      fs.writeFileSync(
        path.join(share, 'both.yaml'),
        `version: 1\nioas:\n  - name: main\nattach:\n  - device: "${E1000E}"\n    to: main\nhandoff:\n  - "${E1000E}"\n`,
      )
      fs.writeFileSync(path.join(share, 'list-fds.py'), LIST_FDS)
      const read = await runScript(
        'intel',
        share,
        `${PRELUDE}
ls -l /dev/kvm > $dir/kvm 2>&1
run notvfio ic exec --device $E --json -- true
ic devices bind $E > /dev/null
V=$(ls /sys/bus/pci/devices/$E/vfio-dev); echo $V > $dir/cdev
ls -l /dev/iommu /dev/vfio/devices/$V > $dir/nodes 2>&1

# The reference: descriptors the shell opens, as the issue measured QEMU's own limits.
qrun ref sh -c "exec 3<>/dev/iommu 4<>/dev/vfio/devices/$V; exec $Q ${QEMU_ARGS()}"

# As nobody with 256M locked, measured while QEMU is paused with the device realized. (A QEMU
# that died must not take the script with it through SIGPIPE on the fifo.)
trap '' PIPE
mkfifo $T/qin
node bin/run.js exec --device $E --qemu --user nobody --memlock 256M --json -- $Q < $T/qin > $dir/nobody.out 2> $dir/nobody.err &
NP=$!
exec 7> $T/qin
waitfor "grep -q monitor $dir/nobody.out 2>/dev/null"
sleep 1
QP=$(qpid); echo $QP > $dir/nobody.qpid
cat /proc/$QP/status > $dir/nobody.status
grep 'locked memory' /proc/$QP/limits > $dir/nobody.limits
ls -l /proc/$QP/fd > $dir/nobody.fds 2>&1
printf '%s\\n' "$QI" >&7; exec 7>&-
wait $NP; echo $? > $dir/nobody.rc

qrun check ic exec --device $E --qemu --check --json -- $Q
qrun small ic exec --device $E --qemu --user nobody --memlock 32M --json -- $Q
qrun at64 ic exec --device $E --qemu --user nobody --memlock 64M --json -- $Q
qrun at65 ic exec --device $E --qemu --user nobody --memlock 65M --json -- $Q
qrun nolimit ic exec --device $E --qemu --user nobody --json -- $Q
ulimit -l > $dir/ulimit

run args ic exec --device $E --qemu --print-args
run argsch ic exec --device $E --cloud-hypervisor --print-args --json
run fds ic exec --device $E -- python3 $P/list-fds.py
run segv ic exec --device $E -- sh -c 'kill -SEGV $$'
node bin/run.js exec --device $E -- sh -c 'trap "exit 42" TERM; while :; do sleep 0.1; done' > $dir/term.out 2> $dir/term.err &
IP=$!
waitfor "grep -q 'pid ' $dir/term.err"
kill -TERM $IP; wait $IP; echo $? > $dir/term.rc

# Refusals: each before anything is opened.
run nouser ic exec --device $E --user nosuchuser --json -- true
run nocmd ic exec --device $E --json
run badmem ic exec --device $E --memlock lots --json -- true
run badbdf ic exec --device 00:03.0 --json -- true
sh -c 'exec sleep 600' 3<>/dev/vfio/devices/$V &
H=$!; echo $H > $dir/holder.pid
waitfor "[ -e /proc/$H/fd/3 ]"
run busy ic exec --device $E --json -- true
kill $H; wait $H
run nolisten ic fds send --socket $T/none.sock --device $E --json
touch $T/exists.sock
run exists ic fds receive --socket $T/exists.sock --json -- true
run recvnocmd ic fds receive --socket $T/r.sock --json
run free ic hw-info $E --json

# apply --exec with a plan that binds the device: QEMU's own refusal. With handoff: QEMU binds.
qrun applyq ic apply $P/bind.yaml --exec -- $Q ${QEMU_ARGS()}
qrun handoff ic apply $P/handoff.yaml --exec -- sh -c "echo IOMMUCTL_HANDOFF_FDS=\\$IOMMUCTL_HANDOFF_FDS >&2; exec $Q ${QEMU_ARGS()}"
run both ic apply $P/both.yaml --json

# fds send to a receiver in Python, which binds the device itself.
python3 test/vm/guest/recv-fds.py $T/py.sock $T/py.ready > $dir/py.out 2> $dir/py.err &
PY=$!
waitfor "[ -e $T/py.ready ]"
run send ic fds send --socket $T/py.sock --device $E --json
wait $PY; echo $? > $dir/py.rc

# fds receive -- QEMU, as nobody: the socket appears once it listens.
(printf '%s\\n' "$QI" | node bin/run.js fds receive --socket $T/r.sock --qemu --user nobody --memlock 256M --json -- $Q > $dir/recv.out 2> $dir/recv.err; echo $? > $dir/recv.rc) &
RP=$!
waitfor "[ -S $T/r.sock ]"
run send2 ic fds send --socket $T/r.sock --device $E --json
wait $RP
ls -a $T > $dir/left
run free2 ic hw-info $E --json

# The two e1000 behind the bridge share a group: one alone on vfio-pci is refused.
for d in $A; do echo vfio-pci > /sys/bus/pci/devices/$d/driver_override; echo $d > /sys/bus/pci/devices/$d/driver/unbind; echo $d > /sys/bus/pci/drivers_probe; done
run halfgroup ic exec --device $A --json -- true
for d in $B; do echo vfio-pci > /sys/bus/pci/devices/$d/driver_override; echo $d > /sys/bus/pci/devices/$d/driver/unbind; echo $d > /sys/bus/pci/drivers_probe; done
qrun group ic exec --device $A --device $B --qemu --json -- $Q`,
        1_500_000,
      )

      // The reference run: QEMU takes descriptors it did not open.
      realized(read('ref'), [ID_82574L], 'shell-opened descriptors')
      const cdev = `/dev/vfio/devices/${read.file('cdev').trim()}`

      // As nobody: realized, and the process QEMU ran as was nobody's, with 256M locked.
      const nobody = read('nobody')
      realized(nobody, [ID_82574L], 'exec --user nobody')
      const rec = stderrJson(nobody, 'exec')
      assert.equal(rec.child.status, 0)
      assert.deepEqual(rec.user, {name: 'nobody', uid: 65534, gid: 65534, groups: []})
      assert.equal(rec.memlock, 256 << 20)
      assert.deepEqual(rec.rlimitMode, {
        result: 'ok',
        value: 1,
        detail: 'pinned pages are charged to the RLIMIT_MEMLOCK of the process that pins',
      })
      assert.deepEqual(rec.devices, [
        {bdf: E1000E, driver: 'vfio-pci', group: rec.devices[0].group, cdev, fd: 4},
      ])
      assert.deepEqual(rec.appended, QEMU_ARGS().split(' '))
      const status = read.file('nobody.status')
      assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m)
      assert.match(status, /^Gid:\s+65534\s+65534\s+65534\s+65534$/m)
      assert.match(status, /^Groups:\s*$/m)
      assert.match(read.file('nobody.limits'), /Max locked memory\s+268435456\s+268435456\s+bytes/)
      const pinned = Number(/^VmPin:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024
      assert.ok(pinned >= 64 << 20, `QEMU pinned ${pinned} bytes: all 64 MiB of guest RAM and more`)
      assert.match(read.file('nobody.fds'), new RegExp(` 3 -> /dev/iommu\\n[\\s\\S]* 4 -> ${cdev}\\n`))

      // As root with --check: the proof ran on descriptors of its own, then QEMU got fresh ones.
      const check = read('check')
      realized(check, [ID_82574L], 'exec --check')
      assert.deepEqual(
        stderrJson(check, 'exec').check.map((s: Json) => s.step),
        [
          'open /dev/iommu',
          'allocate an IOAS',
          `open ${cdev}`,
          `bind ${E1000E}`,
          `attach ${E1000E} to the IOAS`,
          'map a page',
          'map it into the IOAS',
          'unmap it',
          `detach ${E1000E}`,
          'destroy the IOAS',
          'close',
        ],
      )

      // Too little locked memory: QEMU's own ENOMEM when it maps guest RAM. It pinned 64 MiB of RAM
      // and 256 KiB besides (VmPin above): 64M is short, 65M enough.
      realized(read('at65'), [ID_82574L], 'exec --memlock 65M')
      for (const name of ['small', 'at64', 'nolimit']) {
        const r = read(name)
        assert.notEqual(r.rc, 0, `${name}: QEMU must fail to map 64 MiB`)
        assert.match(
          r.err,
          /vfio_container_dma_map\(.*\) = -12 \(Cannot allocate memory\)/,
          `${name}: ${r.err}`,
        )
      }

      // --print-args, the descriptors a child holds, statuses and signals.
      assert.deepEqual(read('args').out.trim().split('\n'), QEMU_ARGS().split(' '))
      const ch = JSON.parse(read('argsch').out)
      assertMatchesSchema('exec-args', ch)
      assert.deepEqual(ch.args, ['--platform', 'iommufd_fd=3', '--device', 'fd=4'])
      const held = JSON.parse(read('fds').out)
      assert.deepEqual(
        Object.keys(held.fds).sort(),
        ['0', '1', '2', '3', '4'],
        'no other descriptor of iommuctl',
      )
      assert.equal(held.fds['3'], '/dev/iommu')
      assert.equal(held.fds['4'], cdev)
      assert.equal(held.env.IOMMUCTL_IOMMUFD_FD, '3')
      assert.equal(held.env.IOMMUCTL_DEVICE_FDS, `${E1000E}=4`)
      assert.equal(read('segv').rc, 128 + os.constants.signals.SIGSEGV)
      assert.equal(read.file('term.rc').trim(), '42', 'SIGTERM reached the child, whose status exec returned')

      // Refusals.
      assert.match(
        refusal(read('notvfio'), 'NOT_ON_VFIO', 1).suggestion,
        new RegExp(`iommuctl devices bind ${E1000E}`),
      )
      refusal(read('nouser'), 'UNKNOWN_USER', 2)
      refusal(read('nocmd'), 'USAGE', 2)
      refusal(read('badmem'), 'USAGE', 2)
      refusal(read('badbdf'), 'BAD_BDF', 2)
      const busy = refusal(read('busy'), 'DEVICE_BUSY', 1)
      assert.match(
        busy.message,
        new RegExp(`pid ${read.file('holder.pid').trim()} \\(sleep\\) holds ${cdev}`),
      )
      const nolisten = refusal(read('nolisten'), 'NO_LISTENER', 1, 'out')
      assert.equal(nolisten.errno, 'ENOENT')
      assert.match(nolisten.message, /Nothing was opened/)
      refusal(read('exists'), 'SOCKET_EXISTS', 1)
      refusal(read('recvnocmd'), 'USAGE', 2)
      assertMatchesSchema('hw-info', JSON.parse(read('free').out))

      // apply --exec binds the device before QEMU starts: QEMU's second bind is refused.
      const applyq = read('applyq')
      assert.notEqual(applyq.rc, 0)
      assert.match(applyq.err, /error bind device fd=4 to iommufd=3: Invalid argument/)
      // The same plan with the device under handoff: opened, not bound, and QEMU binds it.
      const handoff = read('handoff')
      realized(handoff, [ID_82574L], 'apply --exec with handoff')
      assert.match(handoff.err, new RegExp(`IOMMUCTL_HANDOFF_FDS=${E1000E}=4`))
      assert.match(
        refusal(read('both'), 'BAD_PLAN', 2, 'out').message,
        /^handoff\[0\]: .* is bound by the plan/,
      )

      // fds send to Python: the header names each descriptor; Python binds the device itself.
      const sent = JSON.parse(read('send').out)
      assertMatchesSchema('fds-send', sent)
      assert.equal(read.file('py.rc').trim(), '0', read.file('py.err'))
      const py = JSON.parse(read.file('py.out'))
      assertMatchesSchema('fds-header', py.header)
      assert.deepEqual(py.header, sent.header)
      assert.deepEqual(py.header.fds[0], {kind: 'iommufd', path: '/dev/iommu', rlimitMode: 1})
      assert.deepEqual(py.targets, ['/dev/iommu', cdev])
      assert.equal(py.ioas, 1, 'IOMMU_IOAS_ALLOC on the received iommufd')
      assert.equal(py.devids.length, 1, 'VFIO_DEVICE_BIND_IOMMUFD on the received cdev')

      // fds receive -- QEMU as nobody: realized; the socket is gone afterwards.
      const recv = read('recv')
      realized(recv, [ID_82574L], 'fds receive -- qemu')
      const received = stderrJson(recv, 'fds-receive')
      assert.equal(received.user.uid, 65534)
      assert.equal(received.header.fds[1].bdf, E1000E)
      assert.equal(received.peer.uid, 0)
      assertMatchesSchema('fds-send', JSON.parse(read('send2').out))
      assert.doesNotMatch(read.file('left'), /r\.sock/)
      assertMatchesSchema('hw-info', JSON.parse(read('free2').out))

      // A group of two: refused half moved, the blocker named; both handed over, both realized.
      assert.match(
        refusal(read('halfgroup'), 'GROUP_NOT_VIABLE', 1).message,
        new RegExp(`${E1000_B} \\(on e1000\\)`),
      )
      const group = read('group')
      realized(group, [ID_82540EM], 'exec of a group of two')
      assert.equal(group.out.match(new RegExp(ID_82540EM, 'g'))?.length, 2)
      assert.deepEqual(
        stderrJson(group, 'exec').devices.map((d: Json) => [d.bdf, d.fd]),
        [
          [E1000_A, 4],
          [E1000_B, 5],
        ],
      )
    },
  )

  vmIt('none: no IOMMU, so nothing to hand over (exit 3)', async () => {
    const read = await runScript(
      'none',
      share,
      `ic() { node bin/run.js "$@"; }
run exec ic exec --device ${E1000E} --qemu --json -- true
run send ic fds send --socket /run/tmp/x.sock --device ${E1000E} --json`,
    )
    assert.match(refusal(read('exec'), 'NO_IOMMU', 3).message, /no IOMMU translates/)
    refusal(read('send'), 'NO_IOMMU', 3, 'out')
  })
})
