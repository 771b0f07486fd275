// A real IOMMU fault: QEMU's edu device (added to the topology for this test only) is made to
// DMA to and from IOVAs its domain does not map (test/vm/guest/edu-dma.py); the guest kernel logs
// the fault, and `iommuctl faults` must report it with the edu's BDF, the address and direction
// programmed, and the reason as the kernel printed it. The kernel's own line, read from dmesg
// with this test's regexes, is the reference. The amd and virtio topologies run the same
// program; what their IOMMUs did is reported as diagnostics (and checked against `faults` when
// they logged something).
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {vmIt} from './guest.js'
import {explain, REPO, runInGuest} from './harness.js'
import {TopologyName} from './topologies.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-faults-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

/** Below edu's 28-bit dma_mask, page-aligned (VT-d records the page address), and mapped by no domain. */
const READ_IOVA = '0xbadc000'
const WRITE_IOVA = '0xbade000'
const EDU = ['-device', 'edu,addr=0a.0']

const SCRIPT = (dir: string) => `set -x
mkdir -p ${dir}
cd ${REPO}
edu=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1234 ] && [ "$(cat $d/device)" = 0x11e8 ] && basename $d; done)
echo "$edu" > ${dir}/edu.txt
readlink /sys/bus/pci/devices/$edu/iommu_group > ${dir}/group.txt 2>&1
python3 test/vm/guest/edu-dma.py $edu read ${READ_IOVA} > ${dir}/dma-read.txt 2>&1
python3 test/vm/guest/edu-dma.py $edu write ${WRITE_IOVA} > ${dir}/dma-write.txt 2>&1
sleep 1
dmesg > ${dir}/dmesg.txt
node bin/run.js faults --json > ${dir}/faults.json 2> ${dir}/faults.err; echo $? > ${dir}/faults.rc
node bin/run.js faults --device $edu > ${dir}/faults.txt 2>&1
node bin/run.js faults --log ${dir}/dmesg.txt --json > ${dir}/faults-log.json 2>&1
node bin/run.js snapshot --dir /run/tmp/snap > /dev/null 2>&1 && node bin/run.js faults --root /run/tmp/snap --json > ${dir}/faults-snap.json 2>&1
true`

interface Group {
  bdf: string | null
  kind: string
  accesses: string[]
  count: number
  reason: {code: string | null; name: string} | null
  first: {address: string | null}
  last: {address: string | null}
  device: {present: boolean; group: number | null; domainType: string | null} | null
}

async function boot(topology: TopologyName) {
  const dir = `/run/share/${topology}`
  const r = await runInGuest(topology, {command: SCRIPT(dir), shareDir: share, qemu: EDU, timeoutMs: 420_000})
  assert.equal(r.status, 0, explain(r))
  const file = (name: string) => fs.readFileSync(path.join(share, topology, name), 'utf8')
  return {file, edu: file('edu.txt').trim(), r}
}

interface KernelFault {
  access: string
  address: string
  code: number
  text: string
  line: string
}

/** The kernel's VT-d fault lines for a requester, as dmar.c prints them ("[DMA Read PASID 0x0] Request device [0000:00:0a.0] ..." in 7.2). */
function kernelVtdFaults(dmesg: string, bdf: string): KernelFault[] {
  const [, bus, devfn] = /^[0-9a-f]{4}:([0-9a-f]{2}):([0-9a-f]{2}\.[0-7])$/.exec(bdf) as unknown as [
    string,
    string,
    string,
  ]
  const re = new RegExp(
    String.raw`DMAR: \[DMA (Read|Write)[^\]]*\] Request device \[(?:0000:)?${bus}:${devfn.replace('.', '\\.')}\] fault addr (0x[0-9a-f]+) \[fault reason (0x[0-9a-f]+)\] (.*)$`,
    'gm',
  )
  return [...dmesg.matchAll(re)].map((m) => ({
    access: m[1]!.toLowerCase(),
    address: m[2]!,
    code: Number.parseInt(m[3]!, 16),
    text: m[4]!.trim(),
    line: m[0],
  }))
}

describe('a real IOMMU fault in the guest', () => {
  vmIt(
    'intel: the edu DMA faults are reported with its BDF, the address and direction programmed, and the kernel reason',
    async () => {
      const {file, edu, r} = await boot('intel')
      assert.match(edu, /^0000:00:0a\.0$/, explain(r))
      assert.match(file('dma-read.txt'), /programmed/, file('dma-read.txt'))
      const kernel = kernelVtdFaults(file('dmesg.txt'), edu)
      const read = kernel.find((k) => k.access === 'read')
      const write = kernel.find((k) => k.access === 'write')
      assert.ok(
        read && write,
        `the kernel logged no read and write fault for ${edu}:\n${file('dmesg.txt').slice(-3000)}`,
      )
      assert.equal(read.address, READ_IOVA)
      assert.equal(write.address, WRITE_IOVA)

      assert.equal(file('faults.rc').trim(), '0', file('faults.err'))
      const expected: KernelFault[] = [read, write]
      for (const name of ['faults.json', 'faults-log.json', 'faults-snap.json']) {
        const report = JSON.parse(file(name)) as {groups: Group[]}
        assertMatchesSchema('faults', report)
        const mine = report.groups.filter((g) => g.bdf === edu && g.kind === 'dma')
        for (const k of expected) {
          const g: Group | undefined = mine.find(
            (x) => x.accesses.includes(k.access) && x.reason?.code === `0x${k.code.toString(16)}`,
          )
          assert.ok(
            g,
            `${name}: no ${k.access} group for ${edu} with reason ${k.code}: ${JSON.stringify(mine)}`,
          )
          assert.equal(g.reason?.name, k.text, name)
          assert.ok([g.first.address, g.last.address].includes(k.address), name)
          assert.equal(g.device?.present, true)
          assert.equal(g.device?.group, Number(path.basename(file('group.txt').trim())))
        }
      }
      assert.match(file('faults.txt'), new RegExp(`^${edu} `, 'm'))
      console.log(
        `intel: the kernel printed:\n${kernel.map((k) => `  ${k.line}`).join('\n')}\nfaults --device ${edu}:\n${file('faults.txt').replace(/^/gm, '  ')}`,
      )
    },
  )

  for (const topology of ['amd', 'virtio'] as const) {
    vmIt(`${topology}: the same DMA; whatever the IOMMU logged about the edu, faults reports`, async () => {
      const {file, edu, r} = await boot(topology)
      assert.match(edu, /^0000:00:0a\.0$/, explain(r))
      assert.equal(file('faults.rc').trim(), '0', file('faults.err'))
      const report = JSON.parse(file('faults.json')) as {groups: Group[]}
      assertMatchesSchema('faults', report)
      const dmesg = file('dmesg.txt')
      // AMD-Vi names the device in the line ("device=0000:00:0a.0" or "... 0000:00:0a.0: AMD-Vi:"),
      // virtio-iommu by endpoint id (the requester ID 0x0050 is 80).
      const lines = dmesg.split('\n').filter((l) => l.includes(edu.slice(5)) || /fault from EP 80\b/.test(l))
      const faultLines = lines.filter((l) => /Event logged|fault from EP/.test(l))
      console.log(
        `${topology}: ${faultLines.length ? 'the kernel printed' : 'no fault logged for the edu; its lines'}:\n${(faultLines.length ? faultLines : lines).map((l) => `  ${l}`).join('\n')}\ngroup: ${file('group.txt').trim()}`,
      )
      const mine = report.groups.filter((g) => g.bdf === edu)
      if (faultLines.length)
        assert.ok(mine.length > 0, `the kernel logged faults for ${edu}, faults reported none`)
      else assert.equal(mine.length, 0, JSON.stringify(mine))
    })
  }
})
