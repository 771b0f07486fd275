import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runScript, ScriptRun, vmIt} from './guest.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-configure-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

// The intel topology (test/vm/topologies.ts): an e1000e alone in its group, two e1000 behind a
// conventional PCI bridge (one group with the bridge), an nvme disk.
const E1000E = '0000:00:03.0'
const E1000_A = '0000:04:01.0'
const E1000_B = '0000:04:02.0'
const BRIDGE = '0000:00:07.0'
const NVME = '0000:02:00.0'
const ALL = [E1000E, E1000_A, E1000_B, BRIDGE, NVME]

/**
 * Shell helpers for the guest: `ic` runs the CLI; `snap NAME BDF...` writes, without iommuctl,
 * "BDF DRIVER OVERRIDE" per device as the kernel shows them; `journal NAME` copies the journal.
 */
const PRELUDE = `ic() { node bin/run.js "$@"; }
snap() { name=$1; shift; for b in "$@"; do d=/sys/bus/pci/devices/$b; if [ -e $d/driver ]; then drv=$(basename $(readlink $d/driver)); else drv=none; fi; echo "$b $drv $(cat $d/driver_override)"; done > $dir/$name.state; }
journal() { cat /run/iommuctl/journal.json > $dir/$1.journal 2>/dev/null || echo '{}' > $dir/$1.journal; }
ALL="${ALL.join(' ')}"
snap orig $ALL`

type Read = Awaited<ReturnType<typeof runScript>>
/** Parsed, schema-checked CLI output. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>

/** The kernel's view of each device: driver (or none) and driver_override. */
function states(read: Read, name: string): Record<string, {driver: string; override: string}> {
  return Object.fromEntries(
    read
      .file(`${name}.state`)
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([bdf, driver, override]) => [bdf!, {driver: driver!, override: override!}]),
  )
}

function json(r: ScriptRun, schema: 'change' | 'error'): Json {
  const o = JSON.parse(r.out)
  assertMatchesSchema(schema, o)
  return o
}

function refused(r: ScriptRun, code: string, exit = 1): Json {
  assert.equal(r.rc, exit, `${r.out}\n${r.err}`)
  const e = json(r, 'error').error
  assert.equal(e.code, code, e.message)
  return e
}

describe('VM: bind, unbind, restore and set-type against the kernel', () => {
  vmIt('intel: binds, rolls back, survives kill -9 at every step, refuses what the host uses', async () => {
    const read = await runScript(
      'intel',
      share,
      `${PRELUDE}
run bind1 ic devices bind ${E1000E} --json; snap bind1 ${E1000E}; journal bind1
ls /dev/vfio/devices > $dir/bind1.cdevs
run again ic devices bind ${E1000E} --json; journal again
run unbind1 ic devices unbind ${E1000E} --json; snap unbind1 ${E1000E}; journal unbind1

run grpno ic devices bind ${E1000_A} --json; snap grpno $ALL
run grp ic devices bind ${E1000_A} --group --json; snap grp $ALL
run restore1 ic devices restore; snap restore1 $ALL; journal restore1

run fail ic devices bind ${E1000_A} ${E1000_B} ${BRIDGE} --json; snap fail $ALL; journal fail

for k in 1 2 3 4 5 6 7; do
  IOMMUCTL_TEST_KILL_AT_STEP=$k node bin/run.js devices bind ${E1000_A} --group --json > $dir/kill$k.out 2>&1; echo $? > $dir/kill$k.rc
  snap kill$k $ALL
  [ $k = 3 ] && run interrupted ic devices bind ${E1000E} --json
  run kill$k-restore ic devices restore --json; snap kill$k-restored $ALL; journal kill$k-restored
done

IF=$(ls /sys/bus/pci/devices/${E1000E}/net)
ip link set $IF up; ip addr add 192.0.2.1/24 dev $IF
run nic ic devices bind ${E1000E} --json; snap nic ${E1000E}
run nicforce ic devices bind ${E1000E} --force --dry-run --json
ip addr flush dev $IF; ip link set $IF down
mkfs.ext4 -q -F /dev/nvme0n1; mkdir -p /run/mnt; mount /dev/nvme0n1 /run/mnt
run disk ic devices bind ${NVME} --json; snap disk ${NVME}
run diskunbind ic devices unbind ${NVME} --json
umount /run/mnt
for v in /sys/bus/virtio/devices/*; do [ "$(tr -d '\\0' < $v/mount_tag 2>/dev/null)" = host ] && basename $(dirname $(readlink -f $v)) > $dir/rootdev; done
run root9p ic devices bind $(cat $dir/rootdev) --json

run nobody setpriv --reuid=nobody --regid=nogroup --clear-groups node bin/run.js devices bind ${E1000E} --json
run badbdf ic devices bind 0000:00:03 --json
run nodev ic devices bind 0000:09:00.0 --json
run nodrv ic devices bind ${E1000E} --driver no-such-driver --json
run baddrv ic devices bind ${E1000E} --driver ../../x --json
run norestore ic devices restore ${E1000E} --json
snap afterbad $ALL
journal afterbad`,
      900_000,
    )
    const orig = states(read, 'orig')
    assert.equal(orig[E1000E]!.driver, 'e1000e')
    assert.equal(orig[E1000_A]!.driver, 'e1000')
    assert.equal(orig[E1000E]!.override, '(null)')

    // A single-device group: the kernel has it on vfio-pci, with a cdev, and the journal has its past.
    const bind1 = read('bind1')
    assert.equal(bind1.rc, 0, bind1.err)
    const r1 = json(bind1, 'change')
    assert.equal(r1.changed, true)
    assert.deepEqual(states(read, 'bind1')[E1000E], {driver: 'vfio-pci', override: 'vfio-pci'})
    assert.match(read.file('bind1.cdevs'), /vfio\d+/)
    assert.deepEqual(
      r1.steps.map((s: {action: string; status: string}) => `${s.action}:${s.status}`),
      ['set-override:done', 'unbind:done', 'probe:done', 'verify:done'],
    )
    const j1 = JSON.parse(read.file('bind1.journal'))
    assert.deepEqual([j1.devices[E1000E].driver, j1.devices[E1000E].driverOverride], ['e1000e', null])
    assert.equal(j1.devices[E1000E].pendingPid, undefined, 'a finished run leaves nothing pending')

    // The same bind again changes nothing, says so, and keeps the journal's record of the original.
    const again = json(read('again'), 'change')
    assert.equal(again.changed, false)
    assert.match(again.summary, /Nothing to do/)
    assert.equal(JSON.parse(read.file('again.journal')).devices[E1000E].driver, 'e1000e')

    // unbind gives it back to e1000e with no override, and the journal forgets it.
    assert.equal(read('unbind1').rc, 0, read('unbind1').err)
    assert.deepEqual(states(read, 'unbind1')[E1000E], {driver: 'e1000e', override: '(null)'})
    assert.deepEqual(JSON.parse(read.file('unbind1.journal')).devices, {})

    // The bridge group: refused without --group, nothing moved; with it both e1000 move, the bridge stays.
    const grpno = refused(read('grpno'), 'GROUP_INCOMPLETE')
    assert.match(grpno.message, new RegExp(E1000_B))
    assert.deepEqual(states(read, 'grpno'), orig)
    const grp = json(read('grp'), 'change')
    assert.deepEqual(
      grp.devices.map((d: {bdf: string; reason: string}) => [d.bdf, d.reason]),
      [
        [E1000_A, 'named'],
        [E1000_B, 'group'],
      ],
    )
    assert.equal(grp.skipped[0].bdf, BRIDGE)
    const g = states(read, 'grp')
    assert.deepEqual(
      [g[E1000_A]!.driver, g[E1000_B]!.driver, g[BRIDGE]!.driver],
      ['vfio-pci', 'vfio-pci', 'none'],
    )
    // restore (table output) puts both back and empties the journal.
    assert.equal(read('restore1').rc, 0, read('restore1').err)
    assert.match(read('restore1').out, /Gave back/)
    assert.deepEqual(states(read, 'restore1'), orig)
    assert.deepEqual(JSON.parse(read.file('restore1.journal')).devices, {})

    // Half-way failure: vfio-pci refuses the bridge (vfio_pci_core_register_device: not a normal
    // header), after both e1000 moved; every device goes back and the error names the step.
    const fail = refused(read('fail'), 'CHANGE_FAILED')
    assert.match(fail.message, new RegExp(`at verify of ${BRIDGE}`))
    assert.match(
      fail.message,
      /0000:00:07.0 is on no driver \(driver_override vfio-pci\), not on vfio-pci: the kernel accepted the request but vfio-pci did not take the device/,
    )
    assert.match(fail.message, /Put back as they were/)
    const failed = fail.steps.filter((s: {status: string}) => s.status === 'failed')
    assert.deepEqual(
      failed.map((s: {bdf: string; action: string}) => [s.bdf, s.action]),
      [[BRIDGE, 'verify']],
    )
    assert.ok(
      fail.steps.some((s: {bdf: string; status: string}) => s.bdf === E1000_A && s.status === 'undone'),
    )
    assert.deepEqual(states(read, 'fail'), orig)
    assert.deepEqual(JSON.parse(read.file('fail.journal')).devices, {})

    // kill -9 before each of the six writes of a group bind (and a seventh that never comes):
    // whatever state the kill left, restore brings back the original and empties the journal.
    for (let k = 1; k <= 7; k++) {
      const rc = Number(read.file(`kill${k}.rc`))
      assert.equal(rc, k <= 6 ? 137 : 0, `kill at step ${k}: ${read.file(`kill${k}.out`)}`)
      if (k > 1 && k <= 6)
        assert.notDeepEqual(states(read, `kill${k}`), orig, `step ${k} had changed something`)
      const restored = read(`kill${k}-restore`)
      assert.equal(restored.rc, 0, restored.out + restored.err)
      assert.deepEqual(states(read, `kill${k}-restored`), orig, `restore after a kill at step ${k}`)
      assert.deepEqual(JSON.parse(read.file(`kill${k}-restored.journal`)).devices, {})
    }
    const interrupted = refused(read('interrupted'), 'INTERRUPTED')
    assert.match(interrupted.suggestion, /devices restore/)

    // Interlocks: a NIC with an address, a disk with a mounted filesystem, the 9p root.
    assert.match(refused(read('nic'), 'REFUSED').message, /192\.0\.2\./)
    assert.equal(states(read, 'nic')[E1000E]!.driver, 'e1000e')
    const forced = json(read('nicforce'), 'change')
    assert.equal(forced.dryRun, true)
    assert.equal(forced.forced[0].kind, 'network')
    assert.match(
      refused(read('disk'), 'REFUSED').message,
      /filesystem mounted on \/run\/mnt \(ext4 on \/dev\/nvme0n1\)/,
    )
    assert.equal(states(read, 'disk')[NVME]!.driver, 'nvme')
    assert.match(refused(read('diskunbind'), 'REFUSED').message, /\/run\/mnt/)
    assert.match(refused(read('root9p'), 'REFUSED').message, /filesystem mounted on \/ \(9p on host\)/)

    // Bad input: a clear error, the documented exit code, nothing changed.
    const nobody = refused(read('nobody'), 'PERMISSION')
    assert.equal(nobody.errno, 'EACCES')
    refused(read('badbdf'), 'BAD_BDF', 2)
    refused(read('nodev'), 'NO_SUCH_DEVICE')
    refused(read('nodrv'), 'NO_SUCH_DRIVER')
    refused(read('baddrv'), 'BAD_DRIVER', 2)
    refused(read('norestore'), 'NOT_JOURNALLED')
    assert.deepEqual(states(read, 'afterbad'), orig)
    assert.deepEqual(JSON.parse(read.file('afterbad.journal')).devices, {})
  })

  vmIt(
    'intel: set-type through identity, DMA, DMA-FQ and auto; kill -9 mid-way; the kernel refusing',
    async () => {
      const read = await runScript(
        'intel',
        share,
        `${PRELUDE}
G=$(basename $(readlink /sys/bus/pci/devices/${E1000E}/iommu_group)); T=/sys/kernel/iommu_groups/$G/type
echo $G > $dir/G; cat $T > $dir/type0
run busy ic groups set-type $G identity --json; cat $T > $dir/busy.type
run ident ic groups set-type $G identity --rebind --json; cat $T > $dir/ident.type; snap ident ${E1000E}
run dma ic groups set-type $G DMA --rebind --json; cat $T > $dir/dma.type; snap dma ${E1000E}
run fq ic groups set-type $G DMA-FQ --json; cat $T > $dir/fq.type; snap fq ${E1000E}
run auto ic groups set-type $G auto --rebind --json; cat $T > $dir/auto.type; snap auto ${E1000E}
run back ic groups set-type $G $(cat $dir/type0) --rebind --json; cat $T > $dir/back.type
for k in 1 2 3; do
  IOMMUCTL_TEST_KILL_AT_STEP=$k node bin/run.js groups set-type $G identity --rebind --json > $dir/kill$k.out 2>&1; echo $? > $dir/kill$k.rc
  cat $T > $dir/kill$k.type; snap kill$k ${E1000E}
  run kill$k-restore ic devices restore --json; cat $T > $dir/kill$k-restored.type; snap kill$k-restored ${E1000E}; journal kill$k-restored
done
ic devices bind ${E1000E} > /dev/null
node --import tsx test/vm/guest/hold-cdev.ts /dev/vfio/devices/$(ls /sys/bus/pci/devices/${E1000E}/vfio-dev) $dir/held 2> $dir/hold.err &
HP=$!
for i in $(seq 100); do [ -f $dir/held ] && break; sleep 0.2; done
run held ic groups set-type $G identity --json; cat $T > $dir/held.type
kill $HP; wait $HP
run nogroup ic groups set-type 999 identity --json
run badtype ic groups set-type $G passthrough --json
ic devices restore > /dev/null
snap final ${E1000E}`,
        900_000,
      )
      const type0 = read.file('type0').trim()
      assert.match(type0, /^DMA(-FQ)?$/)
      const type = (name: string) => read.file(`${name}.type`).trim()
      const onE1000e = (name: string) =>
        assert.deepEqual(states(read, name)[E1000E], {driver: 'e1000e', override: '(null)'})

      // e1000e does DMA through the group: refused, with the device named; the kernel's type unchanged.
      const busy = refused(read('busy'), 'GROUP_IN_USE')
      assert.match(busy.message, new RegExp(`${E1000E} on e1000e`))
      assert.equal(type('busy'), type0)

      for (const [name, want] of [
        ['ident', 'identity'],
        ['dma', 'DMA'],
        ['auto', type0],
      ] as const) {
        const r = read(name)
        assert.equal(r.rc, 0, r.out + r.err)
        const report = json(r, 'change')
        assert.equal(report.changed, true)
        assert.equal(type(name), want, name)
        onE1000e(name)
        assert.deepEqual(
          report.steps.map((s: {action: string}) => s.action),
          ['unbind', 'verify', 'set-type', 'verify', 'bind', 'verify'],
        )
      }
      // DMA to DMA-FQ the kernel does in place, with e1000e bound (iommu_group_store_type).
      const fq = read('fq')
      assert.equal(fq.rc, 0, fq.out + fq.err)
      assert.equal(type('fq'), 'DMA-FQ')
      assert.deepEqual(
        json(fq, 'change').steps.map((s: {action: string}) => s.action),
        ['set-type', 'verify'],
      )
      assert.equal(type('back'), type0)

      // Writes of set-type --rebind: unbind, type, bind. Killed before each, restore puts back both.
      for (let k = 1; k <= 3; k++) {
        assert.equal(Number(read.file(`kill${k}.rc`)), 137, read.file(`kill${k}.out`))
        assert.equal(read(`kill${k}-restore`).rc, 0, read(`kill${k}-restore`).out)
        assert.equal(type(`kill${k}-restored`), type0, `type after a kill at step ${k}`)
        onE1000e(`kill${k}-restored`)
        assert.deepEqual(JSON.parse(read.file(`kill${k}-restored.journal`)), {
          format: 1,
          devices: {},
          groups: {},
        })
      }
      assert.equal(type('kill2'), type0, 'killed before the type write: the type is untouched')
      assert.equal(type('kill3'), 'identity', 'killed before rebinding: the type had changed')

      // A VFIO user holds the group (vfio-pci does not count as a DMA driver, so iommuctl writes):
      // the kernel answers EPERM (group->owner_cnt) and the error says what that means.
      const held = refused(read('held'), 'CHANGE_FAILED')
      assert.equal(held.errno, 'EPERM')
      assert.match(held.message, /VFIO\/iommufd user still holds group/)
      assert.equal(type('held'), type0)
      refused(read('nogroup'), 'NO_SUCH_GROUP')
      refused(read('badtype'), 'BAD_TYPE', 2)
      onE1000e('final')
    },
  )

  vmIt('virtio: the virtio-iommu device itself is refused, bind and unbind alike', async () => {
    const read = await runScript(
      'virtio',
      share,
      `${PRELUDE.replace(/^ALL=.*$/m, 'ALL=0000:00:02.0')}
run bind ic devices bind 0000:00:02.0 --json
run unbind ic devices unbind 0000:00:02.0 --json
run stub ic devices bind 0000:00:02.0 --driver pci-stub --json
snap after 0000:00:02.0`,
    )
    for (const name of ['bind', 'unbind', 'stub']) {
      const e = refused(read(name), 'REFUSED')
      assert.match(e.message, /it is the IOMMU/, name)
    }
    assert.deepEqual(states(read, 'after'), states(read, 'orig'))
  })
})
