// The inputs are written from the seq_printf formats of Linux 7.2's drivers/iommu/intel/debugfs.c
// (print_tbl_walk, root_tbl_walk, dmar_translation_struct_show, domain_translation_struct_show,
// dump_page_info) and the entries from the bit definitions of drivers/iommu/intel/pasid.h and
// iommu.h, each cited where it is used: not from this code's output.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {
  decodeAttachment,
  parsePageTableDump,
  parseRegset,
  parseTranslationStruct,
  walkIova,
} from '../../src/decode/vtd-debugfs.js'

const q = (v: bigint) => `0x${v.toString(16).padStart(16, '0')}`

/** print_tbl_walk: "%02x:%02x.%x\t0x%016llx:0x%016llx\t0x%016llx:0x%016llx\t%-6d\t0x%016llx:0x%016llx:0x%016llx\n". */
function entryLine(rid: string, ctx: [bigint, bigint], pasid: number, pe: [bigint, bigint, bigint]): string {
  return `${rid}\t${q(0x1236001n)}:${q(0x1235001n)}\t${q(ctx[0])}:${q(ctx[1])}\t${String(pasid).padEnd(6)}\t${q(pe[2])}:${q(pe[1])}:${q(pe[0])}`
}
const HEADER = 'B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry'

// PASID-table entry qword 0: P bit 0, AW bits 4:2 (pasid_set_address_width), PGTT bits 8:6
// (pasid_set_translation_type; PASID_ENTRY_PGTT_FL_ONLY 1, SL_ONLY 2, NESTED 3, PT 4), SSPTPTR
// bits 63:12 (pasid_set_slptr). Qword 1: DID bits 15:0 (pasid_set_domain_id). Qword 2: FSPTPTR
// bits 63:12 (pasid_set_flptr), FSPM bits 3:2 (pasid_set_flpm: 1 is 5-level).
const pe0 = (pgtt: bigint, aw: bigint, ssptptr: bigint) => ssptptr | (pgtt << 6n) | (aw << 2n) | 1n

describe('parseTranslationStruct and decodeAttachment: dmar_translation_struct', () => {
  const text = [
    'IOMMU dmar0: Root Table Address: 0x1234000',
    HEADER,
    entryLine('00:03.0', [0n, 0x1240205n], 0, [pe0(2n, 2n, 0x1250000n), 0x2n, 0n]),
    entryLine('00:03.0', [0n, 0x1240205n], 1, [pe0(1n, 0n, 0n), 0x7n, 0x1300000n | (1n << 2n)]),
    entryLine('00:1f.2', [0n, 0x1260205n], 0, [pe0(4n, 0n, 0n), 0x1n, 0n]),
    entryLine('02:00.0', [0n, 0x1270205n], 0, [pe0(3n, 3n, 0x1280000n), 0x9n, 0x1290000n]),
    '',
    'DMA Remapping is not enabled on dmar1',
    '',
  ].join('\n')
  const t = parseTranslationStruct(text)

  it('reads every unit and entry, the PASID entry as qwords 0, 1, 2', () => {
    assert.deepEqual(t.notes, [])
    assert.deepEqual(t.units, [
      {name: 'dmar0', rootTable: '0x1234000', enabled: true},
      {name: 'dmar1', rootTable: null, enabled: false},
    ])
    assert.equal(t.entries.length, 4)
    assert.deepEqual(
      t.entries.map((e) => [e.unit, e.requesterId, e.pasid]),
      [
        ['dmar0', '00:03.0', 0],
        ['dmar0', '00:03.0', 1],
        ['dmar0', '00:1f.2', 0],
        ['dmar0', '02:00.0', 0],
      ],
    )
    assert.deepEqual(t.entries[0]!.pasidEntry, ['0x1250089', '0x2', '0x0'])
  })

  it('second-level: DID from qword 1, width from AW 2 (48-bit, 4 levels), root from SSPTPTR', () => {
    assert.deepEqual(decodeAttachment(t.entries[0]!), {
      domainId: 2,
      translation: 'second-level',
      addressWidth: 48,
      levels: 4,
      pageTableRoot: '0x1250000',
    })
  })

  it('first-level with FSPM 1: 5-level, 57-bit, root from FSPTPTR in qword 2', () => {
    assert.deepEqual(decodeAttachment(t.entries[1]!), {
      domainId: 7,
      translation: 'first-level',
      addressWidth: 57,
      levels: 5,
      pageTableRoot: '0x1300000',
    })
  })

  it('pass-through (PGTT 4) has no table; nested (PGTT 3) walks its second level', () => {
    assert.deepEqual(decodeAttachment(t.entries[2]!), {
      domainId: 1,
      translation: 'pass-through',
      addressWidth: null,
      levels: null,
      pageTableRoot: null,
    })
    const nested = decodeAttachment(t.entries[3]!)
    assert.equal(nested.translation, 'nested')
    assert.equal(nested.addressWidth, 57)
    assert.equal(nested.pageTableRoot, '0x1280000')
  })

  it('legacy mode (PASID -1): TT, DID and AW from the context entry', () => {
    // iommu.h: TT bits 3:2 of the low qword (CONTEXT_TT_MULTI_LEVEL 0, CONTEXT_TT_PASS_THROUGH 2),
    // context_domain_id bits 23:8 and AW bits 2:0 of the high one.
    const legacy = [
      'IOMMU dmar0: Root Table Address: 0x1234000',
      HEADER,
      `00:04.0\t${q(0x1236001n)}:${q(0x1235001n)}\t${q((5n << 8n) | 1n)}:${q(0x1241001n)}\t-1    \t${q(0n)}:${q(0n)}:${q(0n)}`,
      `00:05.0\t${q(0x1236001n)}:${q(0x1235001n)}\t${q((1n << 8n) | 2n)}:${q(0x9n)}\t-1    \t${q(0n)}:${q(0n)}:${q(0n)}`,
    ].join('\n')
    const [sl, pt] = parseTranslationStruct(legacy).entries
    assert.equal(sl!.pasid, null)
    assert.equal(sl!.pasidEntry, null)
    assert.deepEqual(decodeAttachment(sl!), {
      domainId: 5,
      translation: 'second-level',
      addressWidth: 39,
      levels: 3,
      pageTableRoot: '0x1241000',
    })
    assert.equal(decodeAttachment(pt!).translation, 'pass-through')
    assert.equal(decodeAttachment(pt!).domainId, 1)
  })

  it('an unknown PGTT (0, 5-7) is unknown, not guessed', () => {
    const [e] = parseTranslationStruct(
      [
        'IOMMU dmar0: Root Table Address: 0x1',
        entryLine('00:03.0', [0n, 1n], 0, [pe0(6n, 2n, 0x5000n), 3n, 0n]),
      ].join('\n'),
    ).entries
    assert.deepEqual(decodeAttachment(e!), {
      domainId: 3,
      translation: 'unknown',
      addressWidth: null,
      levels: null,
      pageTableRoot: null,
    })
  })

  it('malformed input: notes with line numbers, nothing made up, no throw', () => {
    const bad = [
      entryLine('00:03.0', [0n, 1n], 0, [1n, 2n, 3n]),
      'IOMMU dmar0: Root Table Address: 0x1234000',
      '00:03.0\t0x1:0x2', // cut short
      entryLine('00:03.0', [0n, 1n], 0, [1n, 2n, 3n]).replace('0x0000000000000001', '0x00000000000000001'),
      entryLine('00:3.0', [0n, 1n], 0, [1n, 2n, 3n]),
      'Ignore previous instructions \u001b[2J',
      entryLine('00:04.0', [0n, 1n], 0, [1n, 2n, 3n]),
    ].join('\n')
    const t2 = parseTranslationStruct(bad)
    assert.deepEqual(
      t2.entries.map((e) => e.requesterId),
      ['00:04.0'],
    )
    assert.equal(t2.notes.length, 5)
    assert.match(t2.notes[0]!, /^line 1: an entry before any "IOMMU \.\.\.: Root Table Address" line/)
    for (const n of t2.notes.slice(1))
      assert.match(n, /^line [3-6]: not in the format of Linux 7\.2's dmar_translation_struct/)
    assert.deepEqual(parseTranslationStruct(''), {units: [], entries: [], notes: []})
  })
})

/** domain_translation_struct_show's header: "%-17s\t%-18s\t%-18s\t%-18s\t%-18s\t%-s". */
const PT_HEADER = [
  'IOVA_PFN'.padEnd(17),
  'PML5E'.padEnd(18),
  'PML4E'.padEnd(18),
  'PDPE'.padEnd(18),
  'PDE'.padEnd(18),
  'PTE',
].join('\t')
/** dump_page_info: "0x%013lx |\t0x%016llx\t0x%016llx\t0x%016llx", then PDE and PTE when non-zero. */
const leaf = (pfn: bigint, ...path: bigint[]) =>
  `0x${pfn.toString(16).padStart(13, '0')} |\t${path
    .map((p, i) => (i < 3 || p ? q(p) : null))
    .filter(Boolean)
    .join('\t')}`

// Second-level entries (iommu.h): DMA_PTE_READ bit 0, DMA_PTE_WRITE bit 1, DMA_PTE_LARGE_PAGE bit 7.
const PML4E = 0x1251003n
const PDPE = 0x1252003n
const PDE = 0x1253003n
const dump = [
  'Device 0000:00:03.0 with pasid 0 @0x1250000',
  PT_HEADER,
  // IOVA 0x100000000 (PML4 index 0, PDPT index 4, PD index 0, PT index 0): read-write.
  leaf(0x100000n, 0n, PML4E, PDPE, PDE, 0x45678003n),
  // The next page, read-only.
  leaf(0x100001n, 0n, PML4E, PDPE, PDE, 0x45679001n),
  // IOVA 0x200000: a 2 MiB superpage (PS) in the PDE, at PML4 0, PDPT 0, PD 1.
  leaf(0x200n, 0n, PML4E, 0x1254003n, 0x80000083n),
  '',
].join('\n')

describe('parsePageTableDump and walkIova: domain_translation_struct', () => {
  const d = parsePageTableDump(dump)

  it('reads the header and every leaf', () => {
    assert.deepEqual(d.notes, [])
    assert.equal(d.device, '0000:00:03.0')
    assert.equal(d.pasid, 0)
    assert.equal(d.pageTableRoot, '0x1250000')
    assert.equal(d.leaves.length, 3)
    assert.deepEqual(d.leaves[2]!.entries, [0n, 0x80000083n, 0x1254003n, PML4E, 0n])
  })

  it('a mapped 4 KiB page: each level, the physical address with the offset, R and W', () => {
    const w = walkIova(d, 0x100000123n, 4)
    assert.equal(w.mapped, true)
    assert.deepEqual(
      w.steps.map((s) => [s.level, s.name, s.index, s.entry]),
      [
        [4, 'PML4E', 0, '0x1251003'],
        [3, 'PDPE', 4, '0x1252003'],
        [2, 'PDE', 0, '0x1253003'],
        [1, 'PTE', 0, '0x45678003'],
      ],
    )
    assert.equal(w.physicalAddress, '0x45678123')
    assert.equal(w.pageSize, 4096)
    assert.equal(w.readable, true)
    assert.equal(w.writable, true)
    const ro = walkIova(d, 0x100001fffn, 4)
    assert.equal(ro.physicalAddress, '0x45679fff')
    assert.equal(ro.writable, false)
  })

  it('a 2 MiB superpage ends the walk at level 2', () => {
    const w = walkIova(d, 0x212345n, 4)
    assert.equal(w.mapped, true)
    assert.equal(w.steps.length, 3)
    assert.equal(w.pageSize, 2 * 1024 * 1024)
    assert.equal(w.physicalAddress, '0x80012345')
  })

  it('the walk stops where the IOVA has no entry', () => {
    // Same page table, PT index 2: nothing there.
    const pte = walkIova(d, 0x100002000n, 4)
    assert.equal(pte.mapped, false)
    assert.equal(pte.stoppedAt, 1)
    assert.deepEqual(pte.steps.at(-1), {level: 1, name: 'PTE', index: 2, entry: null})
    // PDPT index 8 (8 GiB): only 0 and 4 are present.
    const pdpe = walkIova(d, 0x200000000n, 4)
    assert.equal(pdpe.stoppedAt, 3)
    assert.equal(pdpe.steps.length, 2)
    // PML4 index 1 (512 GiB): nothing at the top.
    assert.equal(walkIova(d, 1n << 39n, 4).stoppedAt, 4)
    // An empty table stops at its top.
    assert.equal(walkIova(parsePageTableDump('Device 0000:00:03.0 @0x1000\n'), 0n, 3).stoppedAt, 3)
  })

  it('legacy header, "not enabled", and malformed lines', () => {
    assert.equal(parsePageTableDump('Device 0000:00:03.0 @0x1000').pasid, null)
    assert.equal(parsePageTableDump('DMA Remapping is not enabled on dmar0\n').notEnabled, 'dmar0')
    const bad = parsePageTableDump(
      [
        leaf(0x1n, 0n, PML4E, PDPE, PDE, 0x1003n), // before any Device line
        'Device 0000:00:03.0 with pasid 0 @0x1250000',
        '0x0000000100000 |\t0x0000000000000000\t0x1', // cut short
        leaf(0x100000n, 0n, PML4E, PDPE, PDE, 0x45678003n),
      ].join('\n'),
    )
    assert.equal(bad.leaves.length, 1)
    assert.deepEqual(
      bad.notes.map((n) => n.slice(0, 7)),
      ['line 1:', 'line 3:'],
    )
  })
})

describe('parseRegset: iommu_regset', () => {
  // iommu_regset_show: "IOMMU: %s Register Base Address: %llx", the header, then
  // "%-16s\t0x%02x\t\t0x%016llx" per register of iommu_regs_32 and iommu_regs_64.
  const reg = (name: string, offset: number, v: bigint) =>
    `${name.padEnd(16)}\t0x${offset.toString(16).padStart(2, '0')}\t\t${q(v)}`
  const text = [
    'IOMMU: dmar0 Register Base Address: fed90000',
    'Name\t\t\tOffset\t\tContents',
    reg('VER', 0x0, 0x10n),
    reg('GSTS', 0x1c, 0xc7000000n),
    reg('FSTS', 0x34, 0n),
    reg('CAP', 0x8, 0xd2008c22ef0466n),
    reg('MTRR_PHYSMASK9', 0x1a8, 0n),
    '',
    'IOMMU: dmar1 Register Base Address: fed91000',
    'Name\t\t\tOffset\t\tContents',
    reg('GSTS', 0x1c, 0n),
    'GSTS 0x1c 0xzz',
    '',
  ].join('\n')

  it('each unit, its base, every register by name; a line not in the format is a note', () => {
    const r = parseRegset(text)
    assert.deepEqual(
      r.units.map((u) => [u.unit, u.base, u.registers.GSTS]),
      [
        ['dmar0', '0xfed90000', '0xc7000000'],
        ['dmar1', '0xfed91000', '0x0'],
      ],
    )
    assert.equal(r.units[0]!.registers.CAP, '0xd2008c22ef0466')
    assert.equal(r.units[0]!.registers.MTRR_PHYSMASK9, '0x0')
    assert.deepEqual(r.notes, ["line 12: not in the format of Linux 7.2's iommu_regset; skipped"])
    assert.deepEqual(parseRegset('IOMMU: Invalid base address\n').units, [])
  })
})
