// Parses what CONFIG_INTEL_IOMMU_DEBUGFS prints under /sys/kernel/debug/iommu/intel/ (Linux 7.2,
// drivers/iommu/intel/debugfs.c) and decodes its entries by the bit positions of
// drivers/iommu/intel/iommu.h and pasid.h. The text is read as root from a host or a snapshot, so
// nothing in it is trusted: every line is matched whole, numbers are bounded, and a line or a
// layout this code does not know becomes a note, never a guess.

import {hex, Hex} from '../records.js'
import {bit, field} from './register.js'

/** How a context or PASID-table entry has the unit translate (PGTT in pasid.h, TT in iommu.h). */
export type VtdTranslation = 'first-level' | 'second-level' | 'nested' | 'pass-through' | 'unknown'

/** One present entry of dmar_translation_struct: a requester id's context entry and, in scalable mode, one PASID. */
export interface VtdContextLine {
  unit: string
  /** bus:device.function as the kernel prints it there ("%02x:%02x.%x", no segment). */
  requesterId: string
  rootEntry: [Hex, Hex]
  contextEntry: [Hex, Hex]
  /** The PASID of the entry; null in legacy mode (the kernel prints -1). */
  pasid: number | null
  /** PASID-table entry qwords 0, 1 and 2 (the kernel prints 2:1:0); null in legacy mode. */
  pasidEntry: [Hex, Hex, Hex] | null
}

export interface VtdTranslationStruct {
  /** Units the kernel walked, with their root table address; `enabled` false for "DMA Remapping is not enabled". */
  units: {name: string; rootTable: Hex | null; enabled: boolean}[]
  entries: VtdContextLine[]
  /** Lines that are not in the kernel's format, or bounds reached: said, not guessed at. */
  notes: string[]
}

/** What an entry says about the domain a device (or a PASID of it) is attached to. */
export interface VtdAttachment {
  domainId: number | null
  translation: VtdTranslation
  /** Input address width in bits (30 + 9 * AGAW; 48 or 57 for first-level paging); null for pass-through. */
  addressWidth: number | null
  /** Page-table levels walked for that width; null for pass-through. */
  levels: number | null
  /** The page table the unit walks: second-level for second-level and nested, first-level otherwise. */
  pageTableRoot: Hex | null
}

/** The most entries read from one dump: 65536 requester ids times a few PASIDs. */
export const MAX_CONTEXT_LINES = 1 << 20
/** The most leaf lines read from one page-table dump (4 GiB of 4 KiB pages). */
export const MAX_PAGE_LINES = 1 << 20

const H16 = '0x([0-9a-f]{16})'
/** print_tbl_walk: "%02x:%02x.%x\t0x%016llx:0x%016llx\t0x%016llx:0x%016llx\t%-6d\t0x%016llx:0x%016llx:0x%016llx". */
const CONTEXT_LINE = new RegExp(
  `^([0-9a-f]{2}:[01][0-9a-f]\\.[0-7])\\t${H16}:${H16}\\t${H16}:${H16}\\t(-1|\\d{1,7}) *\\t${H16}:${H16}:${H16}$`,
)
/** root_tbl_walk: "IOMMU %s: Root Table Address: 0x%llx". */
const ROOT_LINE = /^IOMMU (\S{1,32}): Root Table Address: 0x([0-9a-f]{1,16})$/
/** dmar_translation_struct_show and domain_translation_struct_show: "DMA Remapping is not enabled on %s". */
const NOT_ENABLED = /^DMA Remapping is not enabled on (\S{1,32})$/
const CONTEXT_HEADER = 'B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry'

const big = (digits: string) => BigInt(`0x${digits}`)
const MAX_NOTES = 20

function noteOnce(notes: string[], note: string): void {
  if (notes.length < MAX_NOTES && !notes.includes(note)) notes.push(note)
}

/** dmar_translation_struct: every unit's present context entries (and PASID entries in scalable mode). */
export function parseTranslationStruct(text: string): VtdTranslationStruct {
  const out: VtdTranslationStruct = {units: [], entries: [], notes: []}
  let unit: string | null = null
  let lineNo = 0
  for (const line of text.split('\n')) {
    lineNo++
    if (line === '' || line === CONTEXT_HEADER) continue
    let m = ROOT_LINE.exec(line)
    if (m) {
      unit = m[1]!
      out.units.push({name: unit, rootTable: hex(big(m[2]!)), enabled: true})
      continue
    }
    m = NOT_ENABLED.exec(line)
    if (m) {
      out.units.push({name: m[1]!, rootTable: null, enabled: false})
      unit = null
      continue
    }
    m = CONTEXT_LINE.exec(line)
    if (m && unit !== null) {
      if (out.entries.length >= MAX_CONTEXT_LINES) {
        noteOnce(out.notes, `stopped after ${MAX_CONTEXT_LINES} entries: the rest is not shown`)
        break
      }
      const pasid = Number(m[6])
      const legacy = pasid === -1
      out.entries.push({
        unit,
        requesterId: m[1]!,
        rootEntry: [hex(big(m[2]!)), hex(big(m[3]!))],
        contextEntry: [hex(big(m[4]!)), hex(big(m[5]!))],
        pasid: legacy ? null : pasid,
        pasidEntry: legacy ? null : [hex(big(m[9]!)), hex(big(m[8]!)), hex(big(m[7]!))],
      })
      continue
    }
    noteOnce(
      out.notes,
      unit === null && CONTEXT_LINE.test(line)
        ? `line ${lineNo}: an entry before any "IOMMU ...: Root Table Address" line; skipped`
        : `line ${lineNo}: not in the format of Linux 7.2's dmar_translation_struct; skipped`,
    )
  }
  return out
}

/** Levels and width of a second-level table from its AGAW (iommu.h: agaw_to_level, agaw_to_width). */
function fromAgaw(agaw: number): {levels: number; addressWidth: number} | null {
  // AGAW 1, 2, 3: 3-, 4- and 5-level tables (VT-d spec 9.3 AW, 9.6 AW); others are reserved.
  return agaw >= 1 && agaw <= 3 ? {levels: agaw + 2, addressWidth: 30 + 9 * agaw} : null
}

const PAGE_MASK = ~0xfffn & ((1n << 64n) - 1n)

/**
 * The attachment an entry describes. Scalable mode (a PASID entry): PGTT is bits 8:6 of qword 0,
 * AW bits 4:2, SSPTPTR bits 63:12; DID is bits 15:0 of qword 1; FSPTPTR bits 63:12 and FSPM bits
 * 3:2 of qword 2 (pasid.h: pasid_pte_get_pgtt, pasid_get_domain_id, pasid_set_address_width,
 * pasid_set_flptr, pasid_set_flpm). Legacy mode (context entry only): TT is bits 3:2 of the low
 * qword, SLPTPTR bits 63:12; AW bits 2:0 and DID bits 23:8 of the high one (iommu.h:
 * context_domain_id, CONTEXT_TT_*).
 */
export function decodeAttachment(e: VtdContextLine): VtdAttachment {
  if (e.pasidEntry) {
    const [q0, q1, q2] = e.pasidEntry.map((v) => BigInt(v)) as [bigint, bigint, bigint]
    const pgtt = field(q0, 6, 3)
    const domainId = field(q1, 0, 16)
    const sl = fromAgaw(field(q0, 2, 3))
    switch (pgtt) {
      case 1: {
        const fspm = field(q2, 2, 2)
        const five = fspm === 1
        return {
          domainId,
          translation: 'first-level',
          addressWidth: fspm > 1 ? null : five ? 57 : 48,
          levels: fspm > 1 ? null : five ? 5 : 4,
          pageTableRoot: hex(q2 & PAGE_MASK),
        }
      }
      case 2:
      case 3:
        return {
          domainId,
          translation: pgtt === 2 ? 'second-level' : 'nested',
          addressWidth: sl?.addressWidth ?? null,
          levels: sl?.levels ?? null,
          pageTableRoot: hex(q0 & PAGE_MASK),
        }
      case 4:
        return {domainId, translation: 'pass-through', addressWidth: null, levels: null, pageTableRoot: null}
      default:
        return {domainId, translation: 'unknown', addressWidth: null, levels: null, pageTableRoot: null}
    }
  }
  const [hi, lo] = e.contextEntry.map((v) => BigInt(v)) as [bigint, bigint]
  const tt = field(lo, 2, 2)
  const domainId = field(hi, 8, 16)
  if (tt === 2)
    return {domainId, translation: 'pass-through', addressWidth: null, levels: null, pageTableRoot: null}
  if (tt === 3)
    return {domainId, translation: 'unknown', addressWidth: null, levels: null, pageTableRoot: null}
  const sl = fromAgaw(field(hi, 0, 3))
  return {
    domainId,
    translation: 'second-level',
    addressWidth: sl?.addressWidth ?? null,
    levels: sl?.levels ?? null,
    pageTableRoot: hex(lo & PAGE_MASK),
  }
}

/** The names the kernel gives the levels' entries, level 5 first (domain_translation_struct_show). */
export const LEVEL_NAMES = ['PTE', 'PDE', 'PDPE', 'PML4E', 'PML5E'] as const

/** One leaf of a page-table dump: the page's first IOVA and the entry at each level on the way. */
export interface VtdPageLine {
  /** IOVA >> 12 of the page's start. */
  pfn: bigint
  /** entries[level - 1]: the entry at that level; 0n where the kernel printed none (below the leaf). */
  entries: bigint[]
}

export interface VtdPageTableDump {
  /** The "Device ..." header: the device, its PASID (scalable mode) and the table's root. */
  device: string | null
  pasid: number | null
  pageTableRoot: Hex | null
  /** "DMA Remapping is not enabled on ..." in place of a table. */
  notEnabled: string | null
  leaves: VtdPageLine[]
  notes: string[]
}

/** domain_translation_struct_show: "Device %04x:%02x:%02x.%x " then "with pasid %x @0x%llx" or "@0x%llx". */
const DEVICE_LINE =
  /^Device ([0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]) (?:with pasid ([0-9a-f]{1,5}) )?@0x([0-9a-f]{1,16})$/
/** The header: "%-17s\t%-18s\t%-18s\t%-18s\t%-18s\t%-s" of IOVA_PFN, PML5E, PML4E, PDPE, PDE, PTE. */
const PAGE_HEADER = /^IOVA_PFN {9}\tPML5E {13}\tPML4E {13}\tPDPE {14}\tPDE {15}\tPTE$/
/** dump_page_info: "0x%013lx |\t0x%016llx\t0x%016llx\t0x%016llx", then "\t0x%016llx" for PDE and PTE when non-zero. */
const PAGE_LINE = new RegExp(`^0x([0-9a-f]{13}) \\|\\t${H16}\\t${H16}\\t${H16}(?:\\t${H16}(?:\\t${H16})?)?$`)

/** <BDF>/domain_translation_struct or <BDF>/<PASID>/domain_translation_struct: every present leaf. */
export function parsePageTableDump(text: string): VtdPageTableDump {
  const out: VtdPageTableDump = {
    device: null,
    pasid: null,
    pageTableRoot: null,
    notEnabled: null,
    leaves: [],
    notes: [],
  }
  let lineNo = 0
  for (const line of text.split('\n')) {
    lineNo++
    if (line === '' || PAGE_HEADER.test(line)) continue
    const pageLine = PAGE_LINE.exec(line)
    if (pageLine && out.device !== null) {
      if (out.leaves.length >= MAX_PAGE_LINES) {
        noteOnce(out.notes, `stopped after ${MAX_PAGE_LINES} pages: the walk may miss what follows`)
        break
      }
      const [pml5, pml4, pdpe, pde, pte] = pageLine.slice(2).map((v) => (v ? big(v) : 0n))
      out.leaves.push({pfn: big(pageLine[1]!), entries: [pte!, pde!, pdpe!, pml4!, pml5!]})
      continue
    }
    const device = DEVICE_LINE.exec(line)
    if (device && out.device === null) {
      out.device = device[1]!
      out.pasid = device[2] === undefined ? null : Number.parseInt(device[2], 16)
      out.pageTableRoot = hex(big(device[3]!))
      continue
    }
    const off = NOT_ENABLED.exec(line)
    if (off) {
      out.notEnabled = off[1]!
      continue
    }
    noteOnce(out.notes, `line ${lineNo}: not in the format of Linux 7.2's domain_translation_struct; skipped`)
  }
  return out
}

/** One level of a walk: the entry the IOVA's index selects, or null where none is present. */
export interface WalkStep {
  level: number
  name: (typeof LEVEL_NAMES)[number]
  /** Index of the entry in this level's table (9 bits of the IOVA). */
  index: number
  entry: Hex | null
}

export interface WalkResult {
  steps: WalkStep[]
  /** Whether a leaf maps the IOVA. */
  mapped: boolean
  /** The level whose entry is not present, when the walk stops. */
  stoppedAt: number | null
  pageSize: number | null
  physicalAddress: Hex | null
  readable: boolean | null
  writable: boolean | null
}

const levelShift = (level: number) => 12n + 9n * BigInt(level - 1)
/** Bits 51:12 of an entry: the next table or the page (VTD_PAGE_MASK within the 52-bit physical width). */
const ADDRESS_MASK = ((1n << 52n) - 1n) & ~0xfffn

/**
 * Walks an IOVA through the leaves of a dump, level by level from the top. The dump holds only
 * present leaves, each with the entries above it, so an entry at level L is present for the IOVA
 * exactly when some leaf shares the IOVA's index bits above level L - 1. Permissions: bit 0 and bit
 * 1 of the leaf, R and W in the second-level format (iommu.h DMA_PTE_READ, DMA_PTE_WRITE), P and
 * R/W in the first-level one (x86 paging: a present page is readable).
 */
export function walkIova(dump: VtdPageTableDump, iova: bigint, levels: number): WalkResult {
  const steps: WalkStep[] = []
  let candidates = dump.leaves
  for (let level = levels; level >= 1; level--) {
    const shift = levelShift(level)
    const index = Number((iova >> shift) & 0x1ffn)
    // Leaves whose IOVA prefix down to this level's index matches: they went through this entry.
    const prefix = iova >> shift
    candidates = candidates.filter((l) => (l.pfn << 12n) >> shift === prefix)
    const leaf = candidates[0]
    const entry = leaf?.entries[level - 1] ?? 0n
    const name = LEVEL_NAMES[level - 1]!
    if (!leaf || entry === 0n) {
      steps.push({level, name, index, entry: null})
      return {...notMapped(steps), stoppedAt: level}
    }
    steps.push({level, name, index, entry: hex(entry)})
    // A leaf: level 1, or a superpage (PS, bit 7) above it (dma_pte_superpage).
    if (level === 1 || bit(entry, 7)) {
      const pageSize = 1n << shift
      return {
        steps,
        mapped: true,
        stoppedAt: null,
        pageSize: Number(pageSize),
        physicalAddress: hex((entry & ADDRESS_MASK & ~(pageSize - 1n)) | (iova & (pageSize - 1n))),
        readable: bit(entry, 0),
        writable: bit(entry, 1),
      }
    }
  }
  // Only with levels < 1: there is no table to walk.
  return {...notMapped(steps), stoppedAt: null}
}

function notMapped(steps: WalkStep[]): WalkResult {
  return {
    steps,
    mapped: false,
    stoppedAt: null,
    pageSize: null,
    physicalAddress: null,
    readable: null,
    writable: null,
  }
}

/** One unit's registers as iommu_regset prints them: its base address and each register by its VT-d name. */
export interface VtdRegset {
  unit: string
  base: Hex
  registers: Record<string, Hex>
}

/** iommu_regset_show: "IOMMU: %s Register Base Address: %llx". */
const REGSET_UNIT = /^IOMMU: (\S{1,32}) Register Base Address: ([0-9a-f]{1,16})$/
/** Then "Name\t\t\tOffset\t\tContents" and one "%-16s\t0x%02x\t\t0x%016llx" per register. */
const REGSET_LINE = /^([A-Z][A-Z0-9_]{0,31}) *\t0x[0-9a-f]{2,3}\t\t0x([0-9a-f]{16})$/
const REGSET_HEADER = 'Name\t\t\tOffset\t\tContents'
/** iommu_regs_32 and iommu_regs_64 hold 70 registers; a unit with many more is not the kernel's. */
const MAX_REGISTERS = 128

/** iommu_regset: every unit's registers. */
export function parseRegset(text: string): {units: VtdRegset[]; notes: string[]} {
  const units: VtdRegset[] = []
  const notes: string[] = []
  let lineNo = 0
  for (const line of text.split('\n')) {
    lineNo++
    if (line === '' || line === REGSET_HEADER) continue
    const unit = REGSET_UNIT.exec(line)
    if (unit) {
      units.push({unit: unit[1]!, base: hex(big(unit[2]!)), registers: {}})
      continue
    }
    const reg = REGSET_LINE.exec(line)
    const current = units.at(-1)
    if (reg && current && Object.keys(current.registers).length < MAX_REGISTERS) {
      current.registers[reg[1]!] = hex(big(reg[2]!))
      continue
    }
    noteOnce(notes, `line ${lineNo}: not in the format of Linux 7.2's iommu_regset; skipped`)
  }
  return {units, notes}
}
