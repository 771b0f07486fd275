// The fault decoder, the log prefixes and the collector on lines written here from the kernel's
// format strings (dmar.c's dmar_fault_do_one, amd/iommu.c's iommu_print_event, lib/ratelimit.c),
// and the attribution on the intel fixture, whose expected values are read from its own files.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'

import {FaultDecoder, vtdFaultReason} from '../../src/decode/faults.js'
import {parseLogLine, parseSince} from '../../src/decode/kernel-log.js'
import {FaultCollector, FaultsReport} from '../../src/model/faults.js'
import {renderFaultLine, renderFaults} from '../../src/render/faults.js'
import {fixtureRoot, plain} from '../helpers/roots.js'

const NEW_DMA = (bdf: string, addr: string) =>
  `DMAR: [DMA Write NO_PASID] Request device [${bdf}] fault addr ${addr} [fault reason 0x05] PTE Write access is not set`

function collect(lines: string[], options = {}): FaultsReport {
  const c = new FaultCollector(fixtureRoot('intel'), {kind: 'file', path: 'test'}, options)
  for (const l of lines) c.push(l)
  return c.end()
}

function decodeAll(lines: string[]) {
  const d = new FaultDecoder<number>()
  return [...lines.flatMap((l, i) => d.push(l, i)), ...d.end()]
}

describe('log prefixes', () => {
  it('takes the time off kmsg, dmesg, dmesg -T, dmesg -x and journalctl lines', () => {
    assert.deepEqual(parseLogLine('3,812,12500000,-;DMAR: x'), {
      time: {seconds: 12.5, wall: null},
      text: 'DMAR: x',
    })
    assert.deepEqual(parseLogLine('[   12.500000] DMAR: x'), {
      time: {seconds: 12.5, wall: null},
      text: 'DMAR: x',
    })
    assert.deepEqual(parseLogLine('kern  :err   : [   12.500000] DMAR: x')?.text, 'DMAR: x')
    assert.deepEqual(parseLogLine('[Wed Dec  2 00:25:06 2026] DMAR: x'), {
      time: {seconds: null, wall: 'Wed Dec  2 00:25:06 2026'},
      text: 'DMAR: x',
    })
    assert.deepEqual(parseLogLine('Dec 02 00:25:06 host1 kernel: DMAR: x'), {
      time: {seconds: null, wall: 'Dec 02 00:25:06'},
      text: 'DMAR: x',
    })
    assert.equal(
      parseLogLine('2026-12-02T00:25:06+0000 host1 kernel: DMAR: x')?.time.wall,
      '2026-12-02T00:25:06+0000',
    )
    assert.equal(parseLogLine('[   12.500000] host1 kernel: DMAR: x')?.time.seconds, 12.5)
  })

  it('skips kmsg dictionary lines and unescapes kmsg text, keeping control bytes escaped', () => {
    assert.equal(parseLogLine(' SUBSYSTEM=pci'), null)
    assert.equal(parseLogLine('3,1,0,-;a\\x41b\\x1bc')?.text, 'aAb\\x1bc')
  })

  it('--since takes seconds since boot or a date, and refuses anything else', () => {
    assert.deepEqual(parseSince('120.5'), {seconds: 120.5})
    assert.deepEqual(parseSince('2026-12-02T00:25:00Z'), {epochMs: Date.UTC(2026, 11, 2, 0, 25)})
    assert.equal(parseSince('yesterday-ish'), null)
  })
})

describe('decoding', () => {
  it('looks VT-d reasons up as dmar_get_fault_reason does, and says Unknown beyond the tables', () => {
    assert.equal(vtdFaultReason(0x06).name, 'PTE Read access is not set')
    assert.equal(vtdFaultReason(0x26).table, 'irq_remap_fault_reasons')
    assert.equal(vtdFaultReason(0x33).name, 'Unknown')
    assert.equal(vtdFaultReason(0x99).name, 'Unknown')
    assert.equal(vtdFaultReason(0x99).code, '0x99')
  })

  it('reads the segment 7.x kernels print in the requester, and PASID 0x0 as PASID 0', () => {
    const [r] = decodeAll([
      'DMAR: [DMA Read PASID 0x0] Request device [0001:00:0a.0] fault addr 0xbadc000 [fault reason 0x06] PTE Read access is not set',
    ])
    assert.equal(r!.fault.bdf, '0001:00:0a.0')
    assert.equal(r!.fault.segmentAssumed, false)
    assert.equal(r!.fault.pasid, '0x0')
  })

  it("joins the oldest kernels' two-line VT-d fault", () => {
    const [r, ...rest] = decodeAll([
      'DMAR:[DMA Read] Request device [00:02.0] fault addr 8900a000 ',
      'DMAR:[fault reason 06] PTE Read access is not set',
    ])
    assert.equal(rest.length, 0)
    assert.equal(r!.at, 0)
    assert.equal(r!.fault.address, '0x8900a000')
    assert.equal(r!.fault.reason?.name, 'PTE Read access is not set')
  })

  it('keeps a VT-d line it cannot read as raw text, with no field filled in', () => {
    const [r] = decodeAll(['DMAR: [DMA Read] Request device [zz:00.0] fault addr 1000 [fault reason 06] x'])
    assert.equal(r!.fault.kind, 'unparsed')
    assert.equal(r!.fault.vendor, 'intel-vtd')
    assert.equal(r!.fault.bdf, null)
    assert.equal(r!.fault.address, null)
    assert.match(r!.fault.text, /zz:00\.0/)
  })

  it('keeps an SMMUv3 event cut short as raw text', () => {
    const [r, other] = decodeAll([
      'arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:',
      'arm-smmu-v3 arm-smmu-v3.0.auto: 0x0000010000000010',
      'e1000e 0000:00:03.0: something else',
    ])
    assert.equal(other, undefined)
    assert.equal(r!.fault.kind, 'unparsed')
    assert.equal(r!.fault.text.split('\n').length, 2)
  })

  it('AMD-Vi: the RMP fault takes its address from gpa, an unknown event keeps its name and no code', () => {
    const [rmp, odd] = decodeAll([
      'AMD-Vi: Event logged [RMP_PAGE_FAULT device=0000:41:00.0, vmg_tag=0x0001, gpa=0x7f000, flags_rmp=0x0001, flags=0x0020]',
      'iommu ivhd0: AMD-Vi: Event logged [SOMETHING_NEW device=0000:41:00.0 address=0x1000]',
    ])
    assert.equal(rmp!.fault.address, '0x7f000')
    assert.equal(rmp!.fault.reason?.code, '0xd')
    assert.equal(rmp!.fault.bdf, '0000:41:00.0')
    assert.equal(odd!.fault.reason?.code, null)
    assert.equal(odd!.fault.unit, 'ivhd0')
  })

  it('virtio-iommu: the endpoint id as a PCI requester ID, the R/W flags as the access', () => {
    const [r] = decodeAll(['virtio_iommu virtio0: page fault from EP 32 at 0xbadc000 [W]'])
    assert.equal(r!.fault.bdf, '0000:00:04.0')
    assert.equal(r!.fault.access, 'write')
    assert.equal(r!.fault.address, '0xbadc000')
    assert.equal(r!.fault.unit, 'virtio0')
    assert.equal(r!.fault.reason?.table, 'VIRTIO_IOMMU_FAULT_R_MAPPING')
  })

  it('counts "callbacks suppressed" of the IOMMU drivers only', () => {
    const r = collect([
      '[ 1.0] dmar_fault: 46 callbacks suppressed',
      '[ 2.0] some_driver_fn: 3 callbacks suppressed',
    ])
    assert.deepEqual(r.suppressed, [{vendor: 'intel-vtd', function: 'dmar_fault', count: 46}])
  })
})

describe('the collector', () => {
  const intel = (p: string) => path.join(fixtureRoot('intel').abs('/'), p)

  it('groups repeats per device and reason with the first and last time', () => {
    const r = collect([
      `[    1.000000] ${NEW_DMA('00:03.0', '0x1000')}`,
      '[    1.500000] e1000e 0000:00:03.0: unrelated',
      `[    2.000000] ${NEW_DMA('00:03.0', '0x2000')}`,
      `[    3.000000] ${NEW_DMA('00:03.0', '0x3000')}`,
    ])
    assert.equal(r.groups.length, 1)
    const [g] = r.groups
    assert.equal(g!.count, 3)
    assert.deepEqual([g!.first.line, g!.first.time.seconds, g!.first.address], [1, 1, '0x1000'])
    assert.deepEqual([g!.last.line, g!.last.time.seconds, g!.last.address], [4, 3, '0x3000'])
    assert.deepEqual(g!.accesses, ['write'])
    assert.equal(r.lines, 4)
  })

  it("names the device from the root: driver, group and the group's type, as the fixture's files say", () => {
    const [g] = collect([NEW_DMA('00:03.0', '0x1000')]).groups
    const group = Number(
      path.basename(fs.readlinkSync(intel('sys/bus/pci/devices/0000:00:03.0/iommu_group'))),
    )
    assert.equal(g!.device?.group, group)
    assert.equal(
      g!.device?.domainType,
      fs.readFileSync(intel(`sys/kernel/iommu_groups/${group}/type`), 'utf8').trim(),
    )
    assert.equal(
      g!.device?.brief.driver,
      path.basename(fs.readlinkSync(intel('sys/bus/pci/devices/0000:00:03.0/driver'))),
    )
  })

  it("says when the address is inside one of the group's reserved regions", () => {
    const [g] = collect([NEW_DMA('00:03.0', '0xfee00000')]).groups
    assert.equal(g!.inReservedRegions[0]?.type, 'msi')
  })

  it('names the devices behind a bridge whose requester ID the fault carries', () => {
    const behind = fs
      .readdirSync(intel('sys/bus/pci/devices'))
      .filter((b) => fs.readlinkSync(intel(`sys/bus/pci/devices/${b}`)).includes('/0000:00:07.0/'))
    assert.ok(behind.length >= 2)
    const [g] = collect([NEW_DMA('00:07.0', '0x1000')]).groups
    assert.deepEqual(g!.device?.behindBridge, {bridge: '0000:00:07.0', devices: behind})
  })

  it('--since and --device leave the other records out', () => {
    const lines = [
      `[ 1.0] ${NEW_DMA('00:03.0', '0x1000')}`,
      `[ 5.0] ${NEW_DMA('00:03.0', '0x2000')}`,
      `[ 6.0] ${NEW_DMA('00:05.0', '0x2000')}`,
    ]
    assert.equal(collect(lines, {since: {seconds: 2}}).records.length, 2)
    assert.equal(collect(lines, {device: '0000:00:05.0'}).records.length, 1)
  })
})

describe('rendering', () => {
  it('a row per group with its count, the advice below, unparsed lines as text with control characters escaped', () => {
    const r = collect([
      `[ 1.0] ${NEW_DMA('00:03.0', '0x1000')}`,
      `[ 2.0] ${NEW_DMA('00:03.0', '0x2000')}`,
      '[ 3.0] AMD-Vi: Event logged [\x1b[2J',
    ])
    const text = plain(renderFaults(r))
    const row = text.split('\n').find((l) => l.startsWith('0000:00:03.0'))!
    assert.match(
      row,
      /VT-d\s+dma\s+write\s+0x5 PTE Write access is not set\s+2\s+1\.000000s\s+2\.000000s\s+0x2000/,
    )
    assert.match(text, /cause {4}The device reached an address/)
    assert.match(text, /line 3: AMD-Vi: Event logged \[\\x1b\[2J/)
    assert.ok(!renderFaults(r).includes('\x1b[2J'))
  })

  it('says so when there is nothing, and a --follow line has the time, device, access and reason', () => {
    assert.match(
      renderFaults(collect(['[ 1.0] nothing here'])),
      /No IOMMU faults or events in the kernel log/,
    )
    const [rec] = collect([`[ 1.0] ${NEW_DMA('00:03.0', '0x1000')}`]).records
    assert.match(
      plain(renderFaultLine(rec!)),
      /^1\.000000s {2}0000:00:03\.0 {2}e1000e {2}VT-d {2}dma {2}write {2}0x1000 {2}0x5 PTE Write/,
    )
  })
})
