import assert from 'node:assert/strict'
import {describe} from 'node:test'

import {vmIt} from './guest.js'
import {explain, runInGuest} from './harness.js'
import {EXPECTED} from './ioctl-expected.js'

/** Every extensible iommufd ioctl also gets the two size cases. */
const SIZED = Object.keys(EXPECTED).filter((k) => k.startsWith('IOMMU_'))

const MATRIX = `bind() { S=/sys/bus/pci/devices/$1; echo vfio-pci > $S/driver_override; [ -e $S/driver ] && echo $1 > $S/driver/unbind; echo $1 > /sys/bus/pci/drivers_probe; }
bind 0000:00:03.0 && bind 0000:01:10.0
G=$(basename $(readlink /sys/bus/pci/devices/0000:01:10.0/iommu_group))
node --import tsx test/vm/guest/ioctl-matrix.ts 0000:00:03.0 0000:01:10.0 $G`

describe('VM: every ioctl against the real kernel', () => {
  vmIt('success and each documented failure, as the kernel selftests test them', async () => {
    const r = await runInGuest('intel', {command: MATRIX})
    assert.equal(r.status, 0, explain(r))
    const got: {ioctl: string; case: string; errno: string}[] = JSON.parse(r.stdout)
    const table = new Map(got.map((x) => [`${x.ioctl} / ${x.case}`, x.errno]))
    const expected = new Map<string, string>()
    for (const [ioctl, cases] of Object.entries(EXPECTED)) {
      for (const [c, errno] of Object.entries(cases)) expected.set(`${ioctl} / ${c}`, errno)
    }
    for (const ioctl of SIZED) {
      expected.set(`${ioctl} / size below the minimum`, 'EINVAL')
      expected.set(`${ioctl} / one byte long, non-zero tail`, 'E2BIG')
    }
    assert.deepEqual(Object.fromEntries(table), Object.fromEntries(expected))
  })
})
