// Who holds a device, on a real kernel: the intel topology's e1000e moved to vfio-pci, its cdev
// opened by a python3 process in the guest. `devices show` and `groups show` name that pid, and
// the unbind it would block is refused with the same names; once it exits the unbind goes through.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runScript, vmIt} from './guest.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-holders-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

const E1000E = '0000:00:03.0'

describe('VM: the process holding a device', () => {
  vmIt(
    'intel: devices show, groups show and the refused unbind name the python3 holding the cdev',
    async () => {
      const read = await runScript(
        'intel',
        share,
        `ic() { node bin/run.js "$@"; }
run bind ic devices bind ${E1000E} --json
V=$(ls /sys/bus/pci/devices/${E1000E}/vfio-dev)
G=$(basename $(readlink /sys/bus/pci/devices/${E1000E}/iommu_group))
echo $G > $dir/group
python3 -c 'import os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); open(sys.argv[2], "w").write("open"); time.sleep(600)' /dev/vfio/devices/$V $dir/opened &
H=$!; echo $H > $dir/holder.pid
for i in $(seq 100); do [ -e $dir/opened ] && break; sleep 0.1; done
run show ic devices show ${E1000E} --json
run showtext ic devices show ${E1000E}
run group ic groups show $G --json
run busy timeout 120 node bin/run.js devices unbind ${E1000E} --json
readlink /sys/bus/pci/devices/${E1000E}/driver > $dir/driver-busy
kill $H; wait $H
run free ic devices show ${E1000E} --json
run unbind ic devices unbind ${E1000E} --json`,
        600_000,
      )
      assert.equal(read('bind').rc, 0, read('bind').out + read('bind').err)
      const pid = Number(read.file('holder.pid').trim())
      const show = JSON.parse(read('show').out)
      assertMatchesSchema('device', show)
      assert.equal(show.heldBy.known, true)
      assert.deepEqual(
        show.heldBy.holders.map((h: {pid: number; command: string; path: string}) => [h.pid, h.command]),
        [[pid, 'python3']],
      )
      assert.match(show.heldBy.holders[0].path, /^\/dev\/vfio\/devices\/vfio\d+$/)
      assert.match(
        read('showtext').out,
        new RegExp(`held by\\s+pid ${pid} \\(python3\\): /dev/vfio/devices/vfio`),
      )
      const group = JSON.parse(read('group').out)
      assertMatchesSchema('group', group)
      assert.deepEqual(
        group.heldBy.holders.map((h: {pid: number}) => h.pid),
        [pid],
      )
      const busy = read('busy')
      assert.equal(busy.rc, 1, busy.out + busy.err)
      const e = JSON.parse(busy.out)
      assertMatchesSchema('error', e)
      assert.equal(e.error.code, 'DEVICE_BUSY')
      assert.match(e.error.message, new RegExp(`pid ${pid} \\(python3\\) holds /dev/vfio/devices/vfio`))
      assert.match(read.file('driver-busy'), /vfio-pci/, 'the refused unbind changed nothing')
      assert.deepEqual(JSON.parse(read('free').out).heldBy.holders, [])
      assert.equal(read('unbind').rc, 0, read('unbind').out + read('unbind').err)
    },
  )
})
