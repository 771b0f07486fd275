// Mediated devices on a real kernel: the test kernel's mtty sample (CONFIG_SAMPLE_VFIO_MDEV_MTTY,
// samples/vfio-mdev/mtty.c) registers the parent "mtty" at init with two types, mtty-1 (one
// port) and mtty-2 (two), out of 24 ports (MAX_MTTYS). In one boot of the intel topology:
// `mdevs list` against the kernel's own sysfs listing, create, `devices`/`devices show`, a plan
// that binds and attaches the mdev to an IOAS and maps into it (the emulated path: no IOMMU
// domain, so nothing is pinned until a PCI device joins the IOAS), the refused remove while the
// plan holds it, remove, and the refusals: a type nobody offers, a UUID that is no mdev, a UUID
// in use, and the run killed before its write, reported by the next change.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runScript, vmIt} from './guest.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-mdev-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

const E1000E = '0000:00:03.0'
const U = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001'
const U2 = '5c8b7a36-0d2e-4f3a-9b1c-2d4e6f8a0b1c'
const NOBODY = '00000000-0000-0000-0000-000000000000'

const mdevPlan = {
  version: 1,
  ioas: [{name: 'main'}],
  maps: [{name: 'buf', ioas: 'main', size: '2M'}],
  attach: [{device: U, to: 'main'}],
}
const bothPlan = {
  ...mdevPlan,
  attach: [
    {device: U, to: 'main'},
    {device: E1000E, to: 'main'},
  ],
}

// hold NAME PLAN: apply --hold in the background until its JSON record is out, then VmPin of it,
// a remove of the mdev while it holds, and SIGINT.
const SCRIPT = `P=/run/share
ic() { node bin/run.js "$@"; }
hold() {
  node bin/run.js apply $P/$2.json --hold --json > $dir/$1.out 2> $dir/$1.err &
  AP=$!
  for i in $(seq 1500); do grep -q '"mode": "hold"' $dir/$1.out && break; kill -0 $AP 2>/dev/null || break; sleep 0.2; done
  awk '/VmPin/ {print $2}' /proc/$AP/status > $dir/$1.vmpin
  run $1-busy ic mdevs remove ${U} --json
  ls /sys/bus/mdev/devices > $dir/$1-busy.kernel
  kill -INT $AP; wait $AP; echo $? > $dir/$1.rc
}
ls /sys/class/mdev_bus > $dir/k-parents
for t in /sys/class/mdev_bus/*/mdev_supported_types/*; do
  echo "$(basename $t)|$(cat $t/name)|$(cat $t/device_api)|$(cat $t/available_instances)"
done > $dir/k-types
run list0 ic mdevs list --json
run create ic mdevs create mtty-2 --uuid ${U} --json
ls /sys/bus/mdev/devices > $dir/k-mdevs
basename $(readlink /sys/bus/mdev/devices/${U}/mdev_type) > $dir/k-type
basename $(readlink /sys/bus/mdev/devices/${U}/iommu_group) > $dir/k-group
ls /sys/bus/mdev/devices/${U}/vfio-dev > $dir/k-vfio
cat /sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2/available_instances > $dir/k-avail2
cat /sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances > $dir/k-avail1
run list1 ic mdevs list --json
run devices ic devices --json
run show ic devices show ${U} --json
run hwinfo ic hw-info ${U} --json
run again ic mdevs create mtty-2 --uuid ${U} --json
run badtype ic mdevs create mtty-9 --json
run nosuch ic mdevs remove ${NOBODY} --json
hold alone mdev
ic devices bind ${E1000E} > /dev/null
hold both both
run remove ic mdevs remove ${U} --json
ls /sys/bus/mdev/devices > $dir/k-after-remove
IOMMUCTL_TEST_KILL_AT_STEP=1 node bin/run.js mdevs create mtty-1 --uuid ${U2} --json > /dev/null 2>&1; echo $? > $dir/killed.rc
run blocked ic mdevs create mtty-1 --json
run settle ic mdevs remove ${U2} --json
run create2 ic mdevs create mtty-1 --uuid ${U2} --json
run remove2 ic mdevs remove ${U2} --json
ls /sys/bus/mdev/devices > $dir/k-end`

describe('VM: mediated devices (mtty)', () => {
  vmIt(
    'intel: mdevs list/create/remove, devices, a plan attaching an mdev to an IOAS, refusals',
    async () => {
      fs.writeFileSync(path.join(share, 'mdev.json'), JSON.stringify(mdevPlan))
      fs.writeFileSync(path.join(share, 'both.json'), JSON.stringify(bothPlan))
      const read = await runScript('intel', share, SCRIPT, 900_000)
      const ok = (name: string) => {
        const r = read(name)
        assert.equal(r.rc, 0, `${name}: ${r.out}${r.err}`)
        return JSON.parse(r.out)
      }
      const refused = (name: string, code: string, rc = 1) => {
        const r = read(name)
        assert.equal(r.rc, rc, `${name}: ${r.out}${r.err}`)
        const e = JSON.parse(r.out)
        assertMatchesSchema('error', e)
        assert.equal(e.error.code, code, `${name}: ${r.out}`)
        return e.error
      }
      const lines = (name: string) => read.file(name).trim().split('\n').filter(Boolean)

      // mtty_dev_init registers the parent "mtty" at boot; its types are "<driver>-<sysfs_name>"
      // (mdev_type_add), pretty names "Single port serial" and "Dual port serial", device_api
      // vfio-pci (VFIO_DEVICE_API_PCI_STRING), available_instances 24 ports / nr_ports.
      assert.deepEqual(lines('k-parents'), ['mtty'])
      const kernelTypes = lines('k-types').map((l) => l.split('|'))
      assert.deepEqual(
        kernelTypes.map(([id]) => id),
        ['mtty-1', 'mtty-2'],
      )
      const list0 = ok('list0')
      assertMatchesSchema('mdevs', list0)
      assert.deepEqual(
        list0.parents.map((p: {name: string}) => p.name),
        ['mtty'],
      )
      assert.deepEqual(
        list0.parents[0].types.map(
          (t: {id: string; name: string; deviceApi: string; availableInstances: number}) => [
            t.id,
            t.name,
            t.deviceApi,
            String(t.availableInstances),
          ],
        ),
        kernelTypes,
      )
      assert.deepEqual(
        kernelTypes.map(([, , api, n]) => [api, n]),
        [
          ['vfio-pci', '24'],
          ['vfio-pci', '12'],
        ],
      )
      assert.deepEqual(list0.devices, [])

      const created = ok('create')
      assertMatchesSchema('change', created)
      assert.deepEqual(created.mdev, {uuid: U, parent: 'mtty', type: 'mtty-2'})
      assert.deepEqual(
        created.steps.map((s: {action: string; path: string | null; value: string; status: string}) => [
          s.action,
          s.path,
          s.value,
          s.status,
        ]),
        [
          ['create-mdev', '/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2/create', U, 'done'],
          ['verify', null, U, 'done'],
        ],
      )
      assert.deepEqual(lines('k-mdevs'), [U])
      assert.equal(read.file('k-type').trim(), 'mtty-2')
      // A dual-port mdev takes two of the 24 ports: mtty-2 can make 11 more, mtty-1 22.
      assert.equal(read.file('k-avail2').trim(), '11')
      assert.equal(read.file('k-avail1').trim(), '22')

      const list1 = ok('list1')
      assertMatchesSchema('mdevs', list1)
      const group = Number(read.file('k-group').trim())
      const cdev = `/dev/vfio/devices/${read.file('k-vfio').trim()}`
      assert.deepEqual(list1.devices, [
        {
          uuid: U,
          parent: 'mtty',
          type: 'mtty-2',
          typeName: 'Dual port serial',
          driver: 'mtty',
          group,
          vfioCdev: cdev,
          sysfsPath: `/sys/devices/virtual/mtty/mtty/${U}`,
        },
      ])
      assert.deepEqual(
        list1.parents[0].types.map((t: {availableInstances: number; devices: string[]}) => [
          t.availableInstances,
          t.devices,
        ]),
        [
          [22, []],
          [11, [U]],
        ],
      )

      const devices = ok('devices')
      assertMatchesSchema('devices', devices)
      const row = devices.find((d: {uuid?: string}) => d.uuid === U)
      assert.ok(row, 'devices lists the mdev')
      assert.equal(row.parent, 'mtty')
      assert.equal(row.type, 'mtty-2')
      assert.ok(
        devices.some((d: {bdf?: string}) => d.bdf === E1000E),
        'and the PCI devices still',
      )
      const show = ok('show')
      assertMatchesSchema('device', show)
      assert.equal(show.uuid, U)
      assert.equal(show.vfioCdev, cdev)
      assert.deepEqual(show.heldBy.holders, [])

      // hw-info binds the mdev's cdev: vfio_iommufd_emulated_bind makes an access object, and
      // IOMMU_GET_HW_INFO's iommufd_get_device finds no device under that id (ENOENT).
      const hw = refused('hwinfo', 'EMULATED_DEVICE', 3)
      assert.match(hw.message, new RegExp(`^mdev ${U} \\(mtty-2 on mtty\\) is emulated`))
      assert.match(hw.message, /IOMMU_GET_HW_INFO with ENOENT/)
      assert.match(hw.suggestion, /mtty.*is not a PCI device/)

      const again = refused('again', 'MDEV_EXISTS')
      assert.match(again.message, new RegExp(U))
      const bad = refused('badtype', 'UNKNOWN_MDEV_TYPE')
      assert.match(bad.suggestion, /mtty-1 \(on mtty\), mtty-2 \(on mtty\)/)
      refused('nosuch', 'NO_SUCH_MDEV')

      // The plan binds the mdev (vfio_iommufd_emulated_bind) and attaches it to the IOAS
      // (vfio_iommufd_emulated_attach_ioas: an access on the IOAS itself, no HWPT, so the id the
      // attach answers is the IOAS's own).
      for (const c of ['alone', 'both']) {
        const rec = JSON.parse(read.file(`${c}.out`))
        assertMatchesSchema('apply', rec)
        const ioas = rec.steps.find((s: {entry: string}) => s.entry === 'ioas[0]').result
        const attach = rec.steps.find((s: {entry: string}) => s.entry === 'attach[0]').result
        assert.equal(attach.replace('pt ', ''), ioas.replace('ioas ', ''), `${c}: ${read.file(`${c}.out`)}`)
        assert.equal(read.file(`${c}.rc`).trim(), '0', `${c}: apply ends on SIGINT, torn down`)
        // While the plan holds the mdev's cdev the remove is refused, and the mdev stays.
        const busy = refused(`${c}-busy`, 'DEVICE_BUSY')
        assert.match(
          busy.message,
          new RegExp(`mdev ${U} is open in another process: pid \\d+ \\([^)]+\\) holds ${cdev}`),
        )
        assert.deepEqual(lines(`${c}-busy.kernel`), [U])
      }
      // The emulated path pins nothing itself: pages are pinned when they fill an IOMMU domain
      // (iopt_fill_domain) or when the mdev's driver asks (iommufd_access_pin_pages), which mtty
      // never does. With the e1000e in the same IOAS its domain pins the 2 MiB map.
      assert.equal(read.file('alone.vmpin').trim(), '0')
      assert.equal(read.file('both.vmpin').trim(), String(2048))

      const removed = ok('remove')
      assertMatchesSchema('change', removed)
      assert.deepEqual(
        removed.steps.map((s: {action: string; path: string | null; status: string}) => [
          s.action,
          s.path,
          s.status,
        ]),
        [
          ['remove-mdev', `/sys/bus/mdev/devices/${U}/remove`, 'done'],
          ['verify', null, 'done'],
        ],
      )
      assert.deepEqual(lines('k-after-remove'), [])

      // Killed just before its write (SIGKILL: 137 from the shell), the create leaves its journal
      // entry: the next change is refused until that UUID is settled.
      assert.equal(read.file('killed.rc').trim(), '137')
      const blocked = refused('blocked', 'INTERRUPTED')
      assert.match(blocked.message, new RegExp(`create of mdev ${U2}`))
      const settled = ok('settle')
      assert.match(settled.summary, /interrupted create left nothing/)
      assert.equal(settled.changed, false)
      ok('create2')
      ok('remove2')
      assert.deepEqual(lines('k-end'), [])
    },
  )
})
