/**
 * Run by test/vm/guest/queues-mock.ts with an iommufd at descriptor 3: issues
 * IOMMU_IOAS_CHANGE_PROCESS there and prints the VmPin (kB) of its parent and of itself from
 * /proc/PID/status, before and after, as TEST_F(change_process, basic)'s forked child checks.
 * Usage: node --import tsx test/vm/guest/change-process-child.ts (descriptor 3 inherited)
 */
import * as fs from 'node:fs'

import {Iommufd} from '../../../src/iommufd/iommufd.js'

const vmPin = (pid: number | 'self') => {
  const m = /^VmPin:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no VmPin in /proc/${pid}/status`)
  return Number(m[1])
}
const pins = () => ({parent: vmPin(process.ppid), child: vmPin('self')})
const before = pins()
Iommufd.adopt(3).changeProcess()
console.log(JSON.stringify({before, after: pins()}))
