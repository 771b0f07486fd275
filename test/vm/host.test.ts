import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runScript, ScriptRun, vmIt} from './guest.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-host-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

// The intel topology (test/vm/topologies.ts): an e1000e alone in its group, two e1000 behind a
// conventional PCI bridge (one group with the bridge), an igb PF, a virtio-rng alone in its group.
const E1000E = '0000:00:03.0'
const E1000_A = '0000:04:01.0'
const E1000_B = '0000:04:02.0'
const BRIDGE = '0000:00:07.0'
const PF = '0000:01:00.0'
const RNG = '0000:03:00.0'
// QEMU's igb: First VF Offset 0x80, VF Stride 2 (hw/net/igb.c IGB_VF_OFFSET, IGB_VF_STRIDE), so
// the VFs of 01:00.0 are 01:10.0 and 01:10.2; its sriov_totalvfs is 7 (test/fixtures/intel.tar.gz,
// captured from this topology).
const VF0 = '0000:01:10.0'
const VF1 = '0000:01:10.2'
const DEVICES = [E1000E, E1000_A, E1000_B, BRIDGE, PF, VF0, VF1, RNG]
const POOL = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'

const CONFIG = `devices:
  - bdf: ${E1000E}
    driver: vfio-pci
  - bdf: ${E1000_A}
    driver: vfio-pci
    group: true
  - id: 8086:10c9
    vfs:
      count: 2
      drivers: [vfio-pci]
groups:
  - bdf: ${RNG}
    type: identity
hugepages:
  - size: 2M
    count: 8`

/** Configs the host cannot take; each must be refused, exit 2, before anything changes. */
const BAD = {
  overvfs: `devices:\n  - bdf: ${PF}\n    vfs: {count: 8}`,
  nomatch: `devices:\n  - bdf: 0000:09:00.0\n    driver: vfio-pci`,
  twomatch: `devices:\n  - id: 8086:100e\n    driver: vfio-pci`,
  unknown: `devices:\n  - bdf: ${E1000E}\n    driver: vfio-pci\n    colour: blue`,
}

// After a restore: the VF count goes to 1 (0 first, then 1), the e1000e to vfio-pci, then the
// virtio-rng to pcieport, whose probe refuses an endpoint (pcie_portdrv_probe: -ENODEV), so the
// run fails there and puts back everything it did, last first.
const FAILING = `devices:
  - bdf: ${PF}
    vfs: {count: 1}
  - bdf: ${E1000E}
    driver: vfio-pci
  - bdf: ${RNG}
    driver: pcieport
hugepages:
  - {size: 2M, count: 0}`

/**
 * `state NAME` writes, without iommuctl, the kernel's view: "BDF DRIVER OVERRIDE" per device,
 * then the PF's sriov_numvfs, the virtio-rng group's type and the 2 MiB pool's size.
 */
const PRELUDE = `ic() { node bin/run.js "$@"; }
state() { name=$1; { for b in ${DEVICES.join(' ')}; do d=/sys/bus/pci/devices/$b; if [ ! -e $d ]; then echo "$b absent -"; continue; fi; if [ -e $d/driver ]; then drv=$(basename $(readlink $d/driver)); else drv=none; fi; echo "$b $drv $(cat $d/driver_override)"; done
  echo "numvfs $(cat /sys/bus/pci/devices/${PF}/sriov_numvfs)"
  echo "rngtype $(cat /sys/bus/pci/devices/${RNG}/iommu_group/type)"
  echo "hugepages $(cat ${POOL})"; } > $dir/$name.state; }
cat > $dir/host.yaml <<'EOF'
${CONFIG}
EOF
cat > $dir/failing.yaml <<'EOF'
${FAILING}
EOF
${Object.entries(BAD)
  .map(([name, text]) => `cat > $dir/${name}.yaml <<'EOF'\n${text}\nEOF`)
  .join('\n')}`

/**
 * Prints the writes (1-based, as IOMMUCTL_TEST_KILL_AT_STEP counts them) at which a host apply
 * is killed, from its dry run's plan: VF0's first write (the VFs made, none bound), the group
 * type's write (the virtio-rng unbound for it) and the pool's (all done but the pool). The real
 * run has one write more than the plan from VF0 on: the plan sees VF0 without a driver, but the
 * kernel has bound igbvf to it once made, so the run unbinds it first.
 */
const KILL_POINTS = `const steps = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).steps
  .filter((s) => s.action !== "verify" && s.action !== "load-module");
const at = (f) => steps.findIndex(f) + 1;
const vf = at((s) => s.bdf === "${VF0}");
console.log(vf, at((s) => s.action === "set-type") + 1, at((s) => s.action === "set-hugepages") + 1)`

/**
 * The guest's /etc is the host's, read-only (test/vm/init.sh): a copy of it on tmpfs is bound
 * over it, as a machine's own /etc would be writable. What cannot be read (none of it is needed)
 * is left out.
 */
const WRITABLE_ETC = `mkdir -p /run/etc; cp -a /etc/. /run/etc/ 2>/dev/null; mount --bind /run/etc /etc`

/** What systemd runs for the installed boot unit: its ExecStart line, as the shell's command. */
const BOOT_UNIT = `unit=/etc/systemd/system/iommuctl-host.service
boot() { run $1 sh -c "$(sed -n 's/^ExecStart=//p' $unit)"; }`

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function json(r: ScriptRun, schema: 'change' | 'error' | 'host-status'): Json {
  const o = JSON.parse(r.out)
  assertMatchesSchema(schema, o)
  return o
}

describe('VM: host apply and host status against the kernel', () => {
  vmIt('intel: apply reaches the config, a second run changes nothing, status finds drift', async () => {
    const read = await runScript(
      'intel',
      share,
      `${PRELUDE}
echo 0 > /sys/bus/pci/devices/${PF}/sriov_numvfs
state before
run dry ic host apply --config $dir/host.yaml --dry-run --json; state dry
journal() { cat /run/iommuctl/journal.json > $dir/$1.journal 2>/dev/null || echo '{}' > $dir/$1.journal; }
# kill -9 just before three of the plan's writes (KILL_POINTS): each time restore must bring back
# the state before, VF count and pool included, and leave an empty journal.
for k in $(node -e '${KILL_POINTS}' $dir/dry.out); do
  IOMMUCTL_TEST_KILL_AT_STEP=$k node bin/run.js host apply --config $dir/host.yaml --json > $dir/kill$k.out 2>&1; echo $? > $dir/kill$k.rc
  state kill$k; journal kill$k
  run kill$k-interrupted ic devices bind ${RNG} --dry-run --json
  run kill$k-restore ic devices restore --json; state kill$k-restored; journal kill$k-restored
  echo $k >> $dir/kills
done
run apply1 ic host apply --config $dir/host.yaml --json; state apply1
run apply2 ic host apply --config $dir/host.yaml --json; state apply2
run status1 ic host status --config $dir/host.yaml --json
echo > /sys/bus/pci/devices/${E1000E}/driver_override
echo ${E1000E} > /sys/bus/pci/drivers/vfio-pci/unbind
echo ${E1000E} > /sys/bus/pci/drivers/e1000e/bind
state drift
run status2 ic host status --config $dir/host.yaml --json
run status2text ic host status --config $dir/host.yaml
${Object.keys(BAD)
  .map((name) => `run ${name} ic host apply --config $dir/${name}.yaml --json`)
  .join('\n')}
state afterbad
run restore ic devices restore --json; state restored
run failing ic host apply --config $dir/failing.yaml --json; state failed
run persist ic devices bind ${E1000E} --persist --config /run/etc/host.yaml --json; cp /run/etc/host.yaml $dir/persist1.yaml; state persist
run persiststatus ic host status --config /run/etc/host.yaml --json
run unpersist ic devices unbind ${E1000E} --persist --config /run/etc/host.yaml --json; cp /run/etc/host.yaml $dir/persist2.yaml; state unpersist`,
      900_000,
    )
    const state = (name: string) =>
      Object.fromEntries(
        read
          .file(`${name}.state`)
          .trim()
          .split('\n')
          .map((l) => l.split(' '))
          .map(([k, ...v]) => [k!, v.join(' ')]),
      )

    const before = state('before')
    assert.equal(before.numvfs, '0')
    assert.equal(before[VF0], 'absent -')
    assert.equal(before[E1000E], 'e1000e (null)')
    assert.equal(before.rngtype, 'DMA')

    // A dry run prints the plan and changes nothing.
    const dry = json(read('dry'), 'change')
    assert.equal(read('dry').rc, 0, read('dry').err)
    assert.equal(dry.changed, false)
    assert.ok(dry.steps.length > 0 && dry.steps.every((s: Json) => s.status === 'planned'))
    assert.deepEqual(state('dry'), before)

    // kill -9 after the VFs were made, after the virtio-rng was unbound for its group's type,
    // and after everything but the pool: restore puts all back, VF count and pool too.
    const kills = read.file('kills').trim().split('\n')
    assert.equal(kills.length, 3, read.file('dry.out'))
    const [vfKill, typeKill, poolKill] = kills.map((k) => state(`kill${k}`))
    assert.deepEqual([vfKill!.numvfs, vfKill![VF0], vfKill![E1000E]], ['2', 'igbvf (null)', 'e1000e (null)'])
    assert.deepEqual([typeKill![RNG], typeKill!.rngtype], ['none (null)', 'DMA'])
    assert.deepEqual(
      [poolKill!.rngtype, poolKill![RNG], poolKill!.hugepages],
      ['identity', 'virtio-pci (null)', '0'],
    )
    for (const k of kills) {
      assert.equal(read.file(`kill${k}.rc`).trim(), '137', read.file(`kill${k}.out`))
      const j = JSON.parse(read.file(`kill${k}.journal`))
      assert.equal(j.vfs?.[PF]?.from, 0, `kill at write ${k}: the journal holds the VF count to put back`)
      const refused = read(`kill${k}-interrupted`)
      assert.equal(refused.rc, 1, refused.out)
      assert.match(json(refused, 'error').error.message, /interrupted.*the VF count of 0000:01:00\.0/)
      const r = read(`kill${k}-restore`)
      assert.equal(r.rc, 0, `${r.out}\n${r.err}`)
      assertMatchesSchema('change', JSON.parse(r.out))
      assert.deepEqual(state(`kill${k}-restored`), before, `restore after a kill at write ${k}`)
      assert.deepEqual(JSON.parse(read.file(`kill${k}-restored.journal`)), {
        format: 1,
        devices: {},
        groups: {},
      })
    }
    assert.equal(JSON.parse(read.file(`kill${kills[2]}.journal`)).hugepages?.['hugepages-2048kB']?.from, 0)

    // The first run: VFs made, then bound; the devices on vfio-pci, the bridge left; the group's
    // type changed while its driver was off it, the driver back; the pool filled.
    const a1 = read('apply1')
    assert.equal(a1.rc, 0, `${a1.out}\n${a1.err}`)
    const r1 = json(a1, 'change')
    assert.equal(r1.changed, true)
    const s1 = state('apply1')
    assert.equal(s1[E1000E], 'vfio-pci vfio-pci')
    assert.equal(s1[E1000_A], 'vfio-pci vfio-pci')
    assert.equal(s1[E1000_B], 'vfio-pci vfio-pci')
    assert.equal(s1[BRIDGE], 'none (null)')
    assert.equal(s1.numvfs, '2')
    assert.equal(s1[VF0], 'vfio-pci vfio-pci')
    assert.equal(
      s1[VF1],
      'igbvf (null)',
      'a VF the config names no driver for keeps the one the kernel gave it',
    )
    assert.equal(s1.rngtype, 'identity')
    assert.equal(s1[RNG], 'virtio-pci (null)')
    assert.equal(s1.hugepages, '8')
    const at = (pred: (s: Json) => boolean) => r1.steps.findIndex(pred)
    assert.ok(
      at((s) => s.action === 'set-numvfs') < at((s) => s.bdf === VF0 && s.action === 'set-override'),
      'VFs are made before they are bound',
    )
    const setType = at((s) => s.action === 'set-type')
    assert.ok(at((s) => s.bdf === RNG && s.action === 'unbind') < setType)
    assert.ok(setType < at((s) => s.bdf === RNG && s.action === 'bind'))
    assert.ok(r1.steps.every((s: Json) => s.status === 'done'))

    // The second run finds nothing to do, says so, and changes nothing.
    const r2 = json(read('apply2'), 'change')
    assert.equal(read('apply2').rc, 0)
    assert.equal(r2.changed, false)
    assert.deepEqual(r2.steps, [])
    assert.match(r2.summary, /Nothing to do/)
    assert.deepEqual(state('apply2'), s1)

    // Clean: exit 0, every item as the config says.
    const st1 = json(read('status1'), 'host-status')
    assert.equal(read('status1').rc, 0, read('status1').out)
    assert.equal(st1.drift, false)
    assert.ok(st1.items.every((i: Json) => i.ok))

    // The e1000e given back to e1000e by hand: drift, exit 4, and the fix for boot. vfio-pci is
    // built into the test kernel (CONFIG_VFIO_PCI=y in test/vm/kernel.config), so the fix is
    // vfio-pci.ids= with the e1000e's id (QEMU's e1000e is 8086:10d3).
    assert.equal(state('drift')[E1000E], 'e1000e (null)')
    const st2 = json(read('status2'), 'host-status')
    assert.equal(read('status2').rc, 4)
    assert.equal(st2.drift, true)
    const off = st2.items.filter((i: Json) => !i.ok)
    assert.deepEqual(
      off.map((i: Json) => [i.target, i.want, i.live]),
      [[E1000E, 'vfio-pci', 'e1000e']],
    )
    assert.match(off[0].fix, /vfio-pci\.ids=8086:10d3/)
    assert.match(read('status2text').out, /drift.*0000:00:03\.0/)

    // Bad configs: exit 2, an error naming the entry, nothing changed.
    const badWords: Record<keyof typeof BAD, RegExp> = {
      overvfs: /devices\[0\] \(bdf 0000:01:00\.0\): asks for 8 VFs, and 0000:01:00\.0 has at most 7/,
      nomatch: /devices\[0\] \(bdf 0000:09:00\.0\): matches no device/,
      twomatch: /devices\[0\] \(id 8086:100e\): matches 2 devices/,
      unknown: /devices\[0\].*colour/,
    }
    for (const [name, words] of Object.entries(badWords)) {
      const r = read(name)
      assert.equal(r.rc, 2, `${name}: ${r.out}`)
      const e = json(r, 'error').error
      assert.equal(e.code, 'BAD_CONFIG', name)
      assert.match(e.message, words, name)
    }
    assert.deepEqual(state('afterbad'), state('drift'))

    // restore gives back what apply moved (the VF to igbvf, the e1000 to e1000).
    assert.equal(read('restore').rc, 0, read('restore').err)
    const restored = state('restored')
    assert.equal(restored[E1000_A], 'e1000 (null)')
    assert.equal(restored[VF0], 'igbvf (null)')

    // A run that fails part-way puts back all it did: the VF count, the e1000e, the virtio-rng.
    const f = read('failing')
    assert.equal(f.rc, 1, f.out)
    const e = json(f, 'error').error
    assert.equal(e.code, 'CHANGE_FAILED')
    assert.match(e.message, /0000:03:00\.0/)
    assert.ok(e.steps.some((s: Json) => s.action === 'set-numvfs' && s.status === 'undone'))
    assert.ok(!e.steps.some((s: Json) => s.action === 'set-hugepages'), 'the run stopped before the pool')
    assert.deepEqual(state('failed'), restored)

    // --persist: the bind is recorded in a config made for it, which status then finds in place;
    // the unbind drops it again.
    const p1 = json(read('persist'), 'change')
    assert.equal(read('persist').rc, 0, read('persist').err)
    assert.equal(p1.persisted, '/run/etc/host.yaml')
    assert.equal(state('persist')[E1000E], 'vfio-pci vfio-pci')
    assert.equal(read.file('persist1.yaml'), `devices:\n  - bdf: ${E1000E}\n    driver: vfio-pci\n`)
    assert.equal(read('persiststatus').rc, 0, read('persiststatus').out)
    assert.equal(read('unpersist').rc, 0, read('unpersist').err)
    assert.equal(state('unpersist')[E1000E], 'e1000e (null)')
    assert.equal(read.file('persist2.yaml'), 'devices: []\n')
  })

  vmIt('intel: a second boot with the same config: the installed unit reaches the same state', async () => {
    const boots = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-boots-'))
    after(() => fs.rmSync(boots, {recursive: true, force: true}))
    // The first boot: the config in /etc/iommuctl, the unit installed, run as systemd runs it.
    // The config and the unit are kept in the share, this test's stand-in for the disk.
    const first = await runScript(
      'intel',
      boots,
      `${PRELUDE}
${WRITABLE_ETC}
mkdir -p /etc/iommuctl && cp $dir/host.yaml /etc/iommuctl/host.yaml
state boot1before
run install ic host install-boot --json
${BOOT_UNIT}
cp $unit $dir/unit
boot boot1; state boot1`,
      600_000,
    )
    // The second: a fresh guest (nothing of the first's drivers, VFs or journal), the same
    // /etc, the unit run again where systemd would run it at boot.
    const second = await runScript(
      'intel',
      boots,
      `${PRELUDE}
${WRITABLE_ETC}
mkdir -p /etc/iommuctl /etc/systemd/system
cp $dir/host.yaml /etc/iommuctl/host.yaml; cp $dir/unit /etc/systemd/system/iommuctl-host.service
state boot2before
${BOOT_UNIT}
boot boot2; state boot2
run status ic host status --config /etc/iommuctl/host.yaml --json`,
      600_000,
    )
    const state = (name: string) => first.file(`${name}.state`)

    assert.equal(first('install').rc, 0, first('install').out)
    assert.match(
      first.file('unit'),
      /^ExecStart=\S+\/bin\/run\.js host apply --config \/etc\/iommuctl\/host\.yaml$/m,
    )
    for (const [read, name] of [
      [first, 'boot1'],
      [second, 'boot2'],
    ] as const) {
      const r = read(name)
      assert.equal(r.rc, 0, `${name}: ${r.out}\n${r.err}`)
      // The unit asks for no --json: what the journal (systemd's) keeps is the text.
      assert.match(r.out, /The host is as \/etc\/iommuctl\/host\.yaml says: /, `${name} changed the host`)
    }
    assert.equal(state('boot2before'), state('boot1before'), 'the second boot starts as the first did')
    assert.match(state('boot1'), new RegExp(`^${E1000E} vfio-pci vfio-pci$`, 'm'))
    assert.match(state('boot1'), /^numvfs 2$/m)
    assert.match(state('boot1'), /^rngtype identity$/m)
    assert.match(state('boot1'), /^hugepages 8$/m)
    assert.equal(state('boot2'), state('boot1'), 'the second boot reaches what the first did')
    const st = second('status')
    assert.equal(st.rc, 0, st.out)
    assert.equal(json(st, 'host-status').drift, false)
  })
})
