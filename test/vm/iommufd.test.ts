import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, before, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runScript, vmIt} from './guest.js'
import {ensureKernel, REPO} from './harness.js'
import {TopologyName} from './topologies.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-iommufd-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

/** The C reference (test/vm/c/hwinfo.c), built against the test kernel's own UAPI headers. */
before(() => {
  if (process.env.IOMMUCTL_REQUIRE_VM !== '1' && !fs.existsSync('/usr/bin/gcc')) return
  const include = path.join(ensureKernel(), 'include')
  execFileSync('gcc', [
    '-O2',
    '-Wall',
    '-Werror',
    `-I${include}`,
    '-o',
    path.join(share, 'hwinfo'),
    path.join(REPO, 'test/vm/c/hwinfo.c'),
  ])
})

const E1000E = '0000:00:03.0'
/** Hands the e1000e to vfio-pci the way an admin does by hand, and checks the kernel did it. */
const BIND_VFIO = `S=/sys/bus/pci/devices/${E1000E}
echo vfio-pci > $S/driver_override && echo ${E1000E} > $S/driver/unbind && echo ${E1000E} > /sys/bus/pci/drivers_probe
[ "$(basename $(readlink $S/driver))" = vfio-pci ]`

const guest = (topology: TopologyName, body: string) => runScript(topology, share, body)

describe('VM: hw-info and probe against the kernel', () => {
  vmIt(
    'intel: hw-info equals what C reads in the same boot; probe runs every step and leaves the device as found',
    async () => {
      const read = await guest(
        'intel',
        `${BIND_VFIO}
run hwinfo node bin/run.js hw-info ${E1000E} --json
run c /run/share/hwinfo /dev/vfio/devices/vfio0
run probe node bin/run.js probe ${E1000E} --json
run nested node bin/run.js probe ${E1000E} --nested --json
run again /run/share/hwinfo /dev/vfio/devices/vfio0
run driver readlink /sys/bus/pci/devices/${E1000E}/driver`,
      )
      const hw = read('hwinfo')
      assert.equal(hw.rc, 0, hw.err)
      const tool = JSON.parse(hw.out)
      assertMatchesSchema('hw-info', tool)
      const c = JSON.parse(read('c').out)
      assert.equal(tool.typeId, c.type)
      assert.equal(tool.type, 'intel-vtd')
      assert.equal(tool.capabilities.raw, c.capabilities)
      assert.equal(tool.maxPasidLog2, c.maxPasidLog2)
      assert.equal(tool.vtd.cap, c.cap)
      assert.equal(tool.vtd.ecap, c.ecap)
      assert.equal(tool.vtd.flags, c.flags)
      // ../shared/VM.md: the IOVA ranges of the same machine.
      assert.deepEqual(tool.iovaRanges, [
        {start: '0x0', last: '0xfedfffff'},
        {start: '0xfef00000', last: '0xffffffffffff'},
      ])

      const probe = read('probe')
      assert.equal(probe.rc, 0, probe.err)
      const record = JSON.parse(probe.out)
      assertMatchesSchema('probe', record)
      const step = (name: string) => record.steps.find((s: {step: string}) => s.step === name)
      assert.equal(step('map at an IOVA the kernel picks').detail, 'iova 0x1000')
      assert.equal(step('map at a fixed IOVA').detail, 'iova 0x100000000')
      assert.deepEqual(
        [
          step('allocate an HWPT with dirty tracking').result,
          step('allocate an HWPT with dirty tracking').errno,
        ],
        ['unsupported', 'EOPNOTSUPP'],
      )
      assert.deepEqual(
        [step('attach PASID 1 to the HWPT').result, step('attach PASID 1 to the HWPT').errno],
        ['unsupported', 'EINVAL'],
      )
      assert.match(step('attach PASID 1 to the HWPT').detail, /no PASID capability/)
      assert.equal(record.ok, true)

      // --nested on QEMU's VT-d: the kernel refuses the nest parent (intel/iommu.c
      // nested_supported: ecap.NEST), and the hardware info read in the same run says why.
      const nested = read('nested')
      assert.equal(nested.rc, 0, nested.err)
      const n = JSON.parse(nested.out)
      assertMatchesSchema('probe', n)
      const nstep = (name: string) => n.steps.find((s: {step: string}) => s.step === name)
      assert.deepEqual(
        [nstep('allocate a nest-parent HWPT').result, nstep('allocate a nest-parent HWPT').errno],
        ['unsupported', 'EOPNOTSUPP'],
      )
      assert.equal(
        nstep("read the IOMMU's hardware info").detail,
        'intel-vtd: nested data vtd-s1, no vIOMMU type',
      )
      // tool.vtd is this unit's hw-info from above: ecap without NEST, cap with CM.
      assert.equal(tool.vtd.ecapFields.nest, false)
      assert.equal(tool.vtd.capFields.cm, true)
      assert.equal(nstep('allocate a vIOMMU').result, 'skipped')
      assert.match(
        nstep('allocate a nested HWPT (vtd-s1)').detail,
        /^needs a nest-parent HWPT: the VT-d unit has no nested translation \(ecap\.NEST 0\)\. cap\.CM is set/,
      )
      assert.equal(n.ok, true)
      assert.equal(read('again').rc, 0, 'the device binds again after probe: nothing was left open')
      assert.match(read('driver').out, /vfio-pci\n$/)
    },
  )

  vmIt('virtio: bind fails with EPERM and says why; with allow_unsafe_interrupts it works', async () => {
    const read = await guest(
      'virtio',
      `${BIND_VFIO}
run refused node bin/run.js hw-info ${E1000E} --json
run crefused /run/share/hwinfo /dev/vfio/devices/vfio0
echo 1 > /sys/module/iommufd/parameters/allow_unsafe_interrupts
run hwinfo node bin/run.js hw-info ${E1000E} --json
run c /run/share/hwinfo /dev/vfio/devices/vfio0`,
    )
    const refused = read('refused')
    assert.equal(refused.rc, 1)
    const error = JSON.parse(refused.out).error
    assertMatchesSchema('error', {error})
    assert.equal(error.errno, 'EPERM')
    assert.match(
      error.message,
      /VFIO_DEVICE_BIND_IOMMUFD failed \(EPERM\): the platform has no interrupt remapping.*allow_unsafe_interrupts/,
    )
    assert.match(read('crefused').out, /bind: Operation not permitted/, 'C sees the same EPERM')
    const hw = read('hwinfo')
    assert.equal(hw.rc, 0, hw.err)
    const tool = JSON.parse(hw.out)
    const c = JSON.parse(read('c').out)
    assert.deepEqual(
      [tool.typeId, tool.capabilities.raw, tool.maxPasidLog2],
      [c.type, c.capabilities, c.maxPasidLog2],
    )
  })

  vmIt(
    'intel: probe --legacy through container and group; a group with a device left on its driver is not viable',
    async () => {
      const read = await guest(
        'intel',
        `bind() { S=/sys/bus/pci/devices/$1; echo vfio-pci > $S/driver_override; [ -e $S/driver ] && echo $1 > $S/driver/unbind; echo $1 > /sys/bus/pci/drivers_probe; }
bind 0000:01:10.0 && bind 0000:04:01.0
run vf node bin/run.js probe 0000:01:10.0 --legacy --json
run bridge node bin/run.js probe 0000:04:01.0 --legacy --json`,
      )
      const vf = read('vf')
      assert.equal(vf.rc, 0, vf.err)
      const record = JSON.parse(vf.out)
      assertMatchesSchema('probe', record)
      assert.equal(record.path, 'legacy')
      assert.deepEqual(
        record.steps.map((s: {call: string; result: string}) => [s.call, s.result]),
        [
          ['open', 'ok'],
          ['VFIO_GET_API_VERSION', 'ok'],
          ['VFIO_CHECK_EXTENSION', 'ok'],
          ['open', 'ok'],
          ['VFIO_GROUP_GET_STATUS', 'ok'],
          ['VFIO_GROUP_SET_CONTAINER', 'ok'],
          ['VFIO_SET_IOMMU', 'ok'],
          ['VFIO_IOMMU_GET_INFO', 'ok'],
          ['mmap', 'ok'],
          ['VFIO_IOMMU_MAP_DMA', 'ok'],
          ['VFIO_GROUP_GET_DEVICE_FD', 'ok'],
          ['VFIO_DEVICE_GET_INFO', 'ok'],
          ['VFIO_IOMMU_UNMAP_DMA', 'ok'],
        ],
      )
      // The type1 IOVA ranges are the same as iommufd's on this machine (../shared/VM.md).
      assert.match(record.steps[7].detail, /IOVA 0x0-0xfedfffff, 0xfef00000-0xffffffffffff/)
      assert.equal(record.steps[12].detail, '2097152 bytes')
      const bridge = read('bridge')
      assert.equal(bridge.rc, 1)
      const steps = JSON.parse(bridge.out).steps
      assert.deepEqual(
        steps.find((s: {call: string}) => s.call === 'VFIO_GROUP_GET_STATUS'),
        {
          step: 'read the group status',
          call: 'VFIO_GROUP_GET_STATUS',
          result: 'failed',
          detail: 'not viable: a device of the group is on a host driver',
          errno: null,
        },
      )
    },
  )

  vmIt('bad input: no such device, not on vfio-pci, device held open elsewhere, no /dev/iommu', async () => {
    const read = await guest(
      'intel',
      `run nodev node bin/run.js hw-info 0000:09:00.0 --json
run notvfio node bin/run.js probe ${E1000E} --json
run badbdf node bin/run.js probe 00:03.0 --json
${BIND_VFIO}
/run/share/hwinfo /dev/vfio/devices/vfio0 900 > /run/share/intel/holder.out &
holder=$!
for i in $(seq 300); do grep -q devId /run/share/intel/holder.out && break; sleep 1; done
run busy node bin/run.js probe ${E1000E} --json
kill $holder; wait $holder
run free /run/share/hwinfo /dev/vfio/devices/vfio0
run noperm setpriv --reuid=nobody --regid=nogroup --clear-groups node bin/run.js hw-info ${E1000E} --json
rm /dev/iommu
run noiommu node bin/run.js probe ${E1000E} --json`,
    )
    const err = (name: string) => JSON.parse(read(name).out).error
    assert.deepEqual([read('nodev').rc, err('nodev').code], [1, 'NO_SUCH_DEVICE'])
    assert.deepEqual([read('notvfio').rc, err('notvfio').code], [1, 'NOT_ON_VFIO'])
    assert.match(
      err('notvfio').suggestion,
      /echo vfio-pci > \/sys\/bus\/pci\/devices\/0000:00:03.0\/driver_override/,
    )
    assert.deepEqual([read('badbdf').rc, err('badbdf').code], [2, 'BAD_BDF'])
    const busy = JSON.parse(read('busy').out)
    const failed = busy.steps?.find((s: {result: string}) => s.result === 'failed') ?? busy.error
    assert.ok(failed, read('busy').out)
    // The 7.2 kernel answers a second bind of a cdev with EINVAL (vfio_df_open), not EBUSY.
    assert.equal(failed.errno, 'EINVAL', read('busy').out)
    assert.match(failed.detail, /already in use: another process/)
    assert.match(
      fs.readFileSync(path.join(share, 'intel/holder.out'), 'utf8'),
      /"devId": 1/,
      'the holder had it bound',
    )
    assert.equal(read('free').rc, 0, 'once the holder exits the device binds again: nothing was left open')
    // /dev/iommu is 0660 root:root in the guest: a user gets EACCES, explained.
    assert.deepEqual([read('noperm').rc, err('noperm').errno], [1, 'EACCES'])
    assert.match(err('noperm').message, /open \/dev\/iommu failed \(EACCES\): permission denied/)
    assert.deepEqual([read('noiommu').rc, err('noiommu').errno], [3, 'ENOENT'])
    assert.match(err('noiommu').message, /there is no \/dev\/iommu/)
  })
})
