// Every real fault line in ../shared/realdata/faults decoded, and each decoded field checked
// against the line itself, read here with regexes of the test's own (never the decoder's), and
// against the kernel's tables as the kernel sources give them. The data is never copied into the
// repository; without it the test skips and says why.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'

import {DecodedFault, FaultDecoder} from '../../src/decode/faults.js'
import {REPO} from '../helpers/cli.js'

const DIR = path.join(REPO, '../shared/realdata/faults')
const absent = fs.existsSync(DIR)
  ? false
  : `${DIR} is absent (the shared real-data folder is not in a user's clone)`

/** The first column of every data row: the line, its continuation lines joined by " \n " (a backslash and an n). */
function lines(file: string): string[] {
  const rows = fs
    .readFileSync(path.join(DIR, file), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
  assert.match(rows[0]!, /^line\t/, `${file}: header row`)
  return rows.slice(1).map((r) => r.split('\t')[0]!)
}

function decode(record: string): DecodedFault[] {
  const d = new FaultDecoder<number>()
  const out = record.split(' \\n ').flatMap((l, i) => d.push(l, i))
  return [...out, ...d.end()].map((x) => x.fault)
}

const bdf = (seg: string | undefined, bus: string, dev: string, fn: string) =>
  `${seg ?? '0000'}:${Number.parseInt(bus, 16).toString(16).padStart(2, '0')}:${Number.parseInt(dev, 16).toString(16).padStart(2, '0')}.${fn}`
const hex = (s: string) => `0x${BigInt(s.startsWith('0x') ? s : `0x${s}`).toString(16)}`

/**
 * The VT-d reason texts as drivers/iommu/intel/dmar.c has them, by code: dma_remap_fault_reasons
 * from 0, irq_remap_fault_reasons from 0x20, dma_remap_sm_fault_reasons from 0x30 (only the
 * codes this corpus has).
 */
const KERNEL_VTD_TEXT: Record<number, string> = {
  0x02: 'Present bit in context entry is clear',
  0x04: 'Access beyond MGAW',
  0x05: 'PTE Write access is not set',
  0x06: 'PTE Read access is not set',
  0x0c: 'non-zero reserved fields in PTE',
  0x25: 'Blocked a compatibility format interrupt request',
  0x26: 'Blocked an interrupt request due to source-id verification failure',
  0x39: 'SM: Present bit in Root Entry is clear',
  0x81: 'SM: U/S set 0 for first-level translation with user privilege',
}

/** EVENT_TYPE_* of drivers/iommu/amd/amd_iommu_types.h. */
const KERNEL_AMD_TYPES: Record<string, number> = {
  ILLEGAL_DEV_TABLE_ENTRY: 0x1,
  IO_PAGE_FAULT: 0x2,
  IOTLB_INV_TIMEOUT: 0x7,
}

const counts: Record<string, {lines: number; agree: number}> = {}
function tally(what: string, ok: boolean): void {
  counts[what] ??= {lines: 0, agree: 0}
  counts[what].lines++
  if (ok) counts[what].agree++
}

describe('the real fault corpus', {skip: absent}, () => {
  it('Intel DMAR: every line decoded; device, address or index, reason code and kind as the line and dmar.c say', () => {
    for (const line of lines('intel-dmar.tsv')) {
      const [f, ...more] = decode(line)
      assert.equal(more.length, 0, line)
      assert.ok(f && f.kind !== 'unparsed', `not decoded: ${line}`)
      const dev = /Request device \[(?:0x)?([0-9a-f]{1,2}):(?:0x)?([0-9a-f]{1,2})\.(?:0x)?([0-7])\]/.exec(
        line,
      )!
      assert.equal(f.bdf, bdf(undefined, dev[1]!, dev[2]!, dev[3]!), line)
      const reason = /\[fault reason (0x[0-9a-f]+|\d+)\] (.*)$/.exec(line)!
      // %02d in older kernels (decimal), 0x%02x in newer ones.
      const code = reason[1]!.startsWith('0x')
        ? Number.parseInt(reason[1]!, 16)
        : Number.parseInt(reason[1]!, 10)
      assert.equal(f.reason?.code, `0x${code.toString(16)}`, line)
      assert.equal(f.reason?.name, KERNEL_VTD_TEXT[code], line)
      // The text this kernel printed is the table's (some lines were cut short when copied).
      assert.ok(KERNEL_VTD_TEXT[code]!.startsWith(reason[2]!.trim()), line)
      tally('intel: reason text as printed', KERNEL_VTD_TEXT[code] === reason[2]!.trim())
      if (/\[INTR-REMAP\]/.test(line)) {
        assert.equal(f.kind, 'interrupt', line)
        assert.equal(f.index, hex(/fault index (\S+)/.exec(line)![1]!), line)
        assert.equal(f.address, null)
      } else {
        assert.equal(f.kind, 'dma', line)
        assert.equal(f.address, hex(/fault addr (\S+)/.exec(line)![1]!), line)
        assert.equal(f.access, /\[DMA Read/.test(line) ? 'read' : 'write', line)
        const pasid = /PASID (?:0x)?([0-9a-f]+)/.exec(line)?.[1]
        assert.equal(f.pasid, pasid && pasid !== 'ffffffff' ? hex(pasid) : null, line)
      }
      tally('intel: decoded', true)
    }
  })

  it('AMD-Vi: every line decoded; device, address, event type and flag bits as the line and amd_iommu_types.h say', () => {
    for (const line of lines('amd-vi.tsv')) {
      const [f, ...more] = decode(line)
      assert.equal(more.length, 0, line)
      assert.ok(f && f.kind !== 'unparsed', `not decoded: ${line}`)
      const inner = /device=(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])/.exec(line)
      const prefix = /^\S+ ([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7]): AMD-Vi:/.exec(line)
      const expected = inner
        ? bdf(inner[1], inner[2]!, inner[3]!, inner[4]!)
        : prefix
          ? bdf(prefix[1], prefix[2]!, prefix[3]!, prefix[4]!)
          : null
      assert.equal(f.bdf, expected, line)
      assert.equal(f.address, hex(/address=(0x[0-9a-f]+)/.exec(line)![1]!), line)
      const name = /Event logged \[([A-Z_]+)/.exec(line)![1]!
      assert.equal(f.reason?.name, name, line)
      assert.equal(f.reason?.code, `0x${KERNEL_AMD_TYPES[name]!.toString(16)}`, line)
      const flags = /flags=(0x[0-9a-f]+)/.exec(line)?.[1]
      if (flags) {
        const v = Number.parseInt(flags, 16)
        // EVENT_FLAG_RW 0x020 and EVENT_FLAG_I 0x008 (amd_iommu_types.h); PR 0x010 and TR 0x100.
        assert.equal(f.flags?.set.includes('RW'), (v & 0x20) !== 0, line)
        assert.equal(f.flags?.set.includes('PR'), (v & 0x10) !== 0, line)
        assert.equal(f.flags?.set.includes('I'), (v & 0x08) !== 0, line)
        if (name === 'IO_PAGE_FAULT')
          assert.equal(f.access, v & 0x08 ? null : v & 0x20 ? 'write' : 'read', line)
      }
      assert.equal(f.kind, name === 'IO_PAGE_FAULT' ? 'dma' : 'event', line)
      tally(`amd: ${inner ? 'device=' : prefix ? 'driver BDF: prefix' : 'no device in the line'}`, true)
    }
  })

  it('Arm SMMU: every line decoded; SMMUv3 records by their dwords (EVTQ_*), SMMUv2 context faults by FSR and FSYNR0', () => {
    for (const line of lines('arm-smmu.tsv')) {
      const [f, ...more] = decode(line)
      assert.equal(more.length, 0, line)
      assert.ok(f && f.kind !== 'unparsed', `not decoded: ${line}`)
      const v3 = /event (0x[0-9a-f]+) received:/.exec(line)
      if (v3) {
        const dwords = [...line.matchAll(/: (0x[0-9a-f]{16})/g)].map((m) => BigInt(m[1]!))
        assert.equal(dwords.length, 4, line)
        // The id the kernel printed is the record's own low byte (EVTQ_0_ID).
        assert.equal(Number(dwords[0]! & 0xffn), Number.parseInt(v3[1]!, 16), line)
        assert.equal(f.reason?.code, hex(v3[1]!), line)
        // EVT_ID_TRANSLATION_FAULT 0x10 is "F_TRANSLATION" in event_str.
        if (v3[1] === '0x10') assert.equal(f.reason?.name, 'F_TRANSLATION', line)
        assert.equal(f.streamId, `0x${(dwords[0]! >> 32n).toString(16)}`, line)
        assert.equal(f.address, `0x${dwords[2]!.toString(16)}`, line)
        assert.equal(f.access, (dwords[1]! >> 35n) & 1n ? 'read' : 'write', line)
        tally('arm: SMMUv3 record', true)
      } else {
        const m = /fsr=(0x[0-9a-f]+), iova=(0x[0-9a-f]+), fsynr=(0x[0-9a-f]+), cbfrsynra=(0x[0-9a-f]+)/.exec(
          line,
        )!
        assert.equal(f.address, hex(m[2]!), line)
        assert.equal(f.streamId, `0x${(Number.parseInt(m[4]!, 16) & 0xffff).toString(16)}`, line)
        // ARM_SMMU_CB_FSR_TF is bit 1; ARM_SMMU_CB_FSYNR0_WNR bit 4.
        assert.equal(f.flags?.set.includes('TF'), (Number.parseInt(m[1]!, 16) & 2) !== 0, line)
        assert.equal(f.access, Number.parseInt(m[3]!, 16) & 0x10 ? 'write' : 'read', line)
        tally('arm: SMMUv2 context fault', true)
      }
    }
  })

  it('reports the agreement counts', (t) => {
    for (const [what, c] of Object.entries(counts)) t.diagnostic(`${what}: ${c.agree} of ${c.lines}`)
    assert.ok(Object.keys(counts).length > 0)
  })
})
