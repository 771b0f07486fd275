// What each device is attached to right now, and where an IOVA of it leads: VT-d's context and
// PASID-table entries and page tables as debugfs dumps them, beside what sysfs says (the group's
// default domain, the driver) and who holds the device.

import {
  decodeAttachment,
  parsePageTableDump,
  parseTranslationStruct,
  VtdContextLine,
  VtdTranslation,
  walkIova,
  WalkResult,
} from '../decode/vtd-debugfs.js'
import {AmdDte, AmdTranslation, decodeDte, DevtblLine, parseDevtbl} from '../decode/amdvi-dte.js'
import {ExitCode, IommuctlError} from '../errors.js'
import {Bdf, hex, Hex} from '../records.js'
import {
  AMD_DEBUGFS_DIR,
  ChosenFile,
  DebugfsState,
  INTEL_DEBUGFS_DIR,
  readChosen,
  readDebugfs,
} from '../sysfs/debugfs.js'
import type {Holder} from '../sysfs/holders.js'
import {listGroups, listUnits} from '../sysfs/inventory.js'
import {noSuchDevice, readPciBrief, readPciDevice, requireBdfs} from '../sysfs/pci.js'
import {Root} from '../sysfs/root.js'
import {isVfioDriver} from '../vfio/driver.js'
import {deviceHolders} from './holders.js'

/**
 * The domain one entry attaches a device (or one PASID of it) to: a VT-d context or PASID-table
 * entry, or an AMD-Vi device-table entry (DTE).
 */
export interface LiveAttachment {
  /** The PASID of a scalable-mode entry (0 is the device's requests without one); null in legacy mode and on AMD-Vi. */
  pasid: number | null
  /** The unit's domain id (VT-d's DID, AMD-Vi's DomainID) for this domain. */
  domainId: number | null
  /** VT-d's, or AMD-Vi's: pass-through, blocked (IR and IW clear), a v1 (host) or v2 (guest, GCR3) page table, or nested (both). */
  translation: VtdTranslation | AmdTranslation
  /** Input address width in bits; null for pass-through. */
  addressWidth: number | null
  /** Page-table levels for that width; null for pass-through. */
  levels: number | null
  /** The page table the unit walks; null for pass-through. */
  pageTableRoot: Hex | null
  /** The raw entries: context entry (high, low) and PASID-table entry qwords 0, 1, 2; null on AMD-Vi. */
  contextEntry: [Hex, Hex] | null
  pasidEntry: [Hex, Hex, Hex] | null
  /** AMD-Vi: the DTE's qwords 0 to 3 (bits 63:0 first), and what they say; null on VT-d. */
  deviceTableEntry: [Hex, Hex, Hex, Hex] | null
  dte: AmdDte | null
}

/**
 * Who decides what the device's DMA reaches: the kernel (its driver, or its default domain while
 * nobody has the device open) or a user (a process with its VFIO cdev or group open, as iommufd
 * and VFIO users have); unknown when that cannot be looked into (a snapshot, not root).
 */
export type DomainOwner = 'kernel' | 'user' | 'unknown'

export interface LiveDevice {
  bdf: Bdf
  group: number
  /** The group's default domain type (sysfs): what the kernel attaches when it owns the device. */
  defaultDomain: string | null
  unit: string | null
  driver: string | null
  owner: DomainOwner
  /** Processes with the device's VFIO nodes open (live host only). */
  heldBy: Holder[]
  /** From debugfs: the device's present entries, PASID 0 first; empty when none is present or debugfs was not read. */
  attachments: LiveAttachment[]
  /** What the attachments mean when there are none, or why they are not known for this device. */
  note: string | null
}

export interface LiveDomains {
  /** Where the attachments come from: debugfs, or sysfs alone when it could not be read. */
  source: 'debugfs' | 'sysfs'
  debugfs: {path: string; state: DebugfsState; note: string | null}
  devices: LiveDevice[]
  /** Present entries of requester ids that are no device of their unit (a bridge's alias, a device gone). */
  others: (LiveAttachment & {unit: string; requesterId: string})[]
  /** What in the dump was not understood or cut. */
  notes: string[]
}

const TRANSLATION_STRUCT = `${INTEL_DEBUGFS_DIR}/dmar_translation_struct`

function attachmentOf(e: VtdContextLine): LiveAttachment {
  const a = decodeAttachment(e)
  return {
    pasid: e.pasid,
    domainId: a.domainId,
    translation: a.translation,
    addressWidth: a.addressWidth,
    levels: a.levels,
    pageTableRoot: a.pageTableRoot,
    contextEntry: e.contextEntry,
    pasidEntry: e.pasidEntry,
    deviceTableEntry: null,
    dte: null,
  }
}

const AMD_DEVID = `${AMD_DEBUGFS_DIR}/devid`
const AMD_DEVTBL = `${AMD_DEBUGFS_DIR}/devtbl`

/** AMD-Vi's device table: devtbl prints the DTE of the device written to devid. */
const DEVTBL: ChosenFile<DevtblLine> = {
  choose: AMD_DEVID,
  answer: AMD_DEVTBL,
  current: (text) => /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.exec(text.trim())?.[0] ?? null,
  parse: parseDevtbl,
  answers: (line, bdf) => line.deviceId === bdf,
}

/** A device's DTE, through devid and devtbl (readChosen: live host, root). */
function readDte(root: Root, bdf: string): {attachment: LiveAttachment | null; note: string | null} {
  const {value: line, note} = readChosen(root, DEVTBL, bdf)
  if (!line) return {attachment: null, note}
  const dte = decodeDte(line.qwords)
  return {
    attachment: {
      pasid: null,
      domainId: dte.domainId,
      translation: dte.translation,
      addressWidth: dte.addressWidth,
      levels: dte.levels || null,
      pageTableRoot: dte.pageTableRoot,
      contextEntry: null,
      pasidEntry: null,
      deviceTableEntry: line.qwords.map(hex) as [Hex, Hex, Hex, Hex],
      dte,
    },
    note: null,
  }
}

/** Every device in a group, with its live attachments where debugfs can be read. */
export function liveDomains(root: Root): LiveDomains {
  const units = listUnits(root)
  const vtdUnits = new Set(units.filter((u) => u.kind === 'intel-vtd').map((u) => u.name))
  const amdUnits = new Set(units.filter((u) => u.kind === 'amd-vi').map((u) => u.name))
  // An AMD-Vi host's debugfs is its devid and devtbl; any other's, VT-d's translation dump.
  const amdOnly = amdUnits.size > 0 && vtdUnits.size === 0
  const file = readDebugfs(root, amdOnly ? AMD_DEVID : TRANSLATION_STRUCT)
  const dump = file.text === null || amdOnly ? null : parseTranslationStruct(file.text)
  const byRid = new Map<string, VtdContextLine[]>()
  for (const e of dump?.entries ?? []) {
    const key = `${e.unit} ${e.requesterId}`
    byRid.set(key, [...(byRid.get(key) ?? []), e])
  }
  const devices: LiveDevice[] = []
  for (const g of listGroups(root)) {
    for (const bdf of g.devices) {
      const brief = readPciBrief(root, bdf)
      const driver = brief?.driver ?? null
      const unit = brief?.unit ?? null
      const key = `${unit} ${bdf.slice(5)}`
      const entries = byRid.get(key) ?? []
      byRid.delete(key)
      const held = driver !== null && isVfioDriver(driver) ? holdersOf(root, bdf, g.id) : null
      const amd = unit !== null && amdUnits.has(unit) ? readDte(root, bdf) : null
      devices.push({
        bdf,
        group: g.id,
        defaultDomain: g.type,
        unit,
        driver,
        owner: held === null ? 'kernel' : held.holders.length ? 'user' : held.complete ? 'kernel' : 'unknown',
        heldBy: held?.holders ?? [],
        attachments: amd ? (amd.attachment ? [amd.attachment] : []) : entries.map(attachmentOf),
        note: amd ? amd.note : deviceNote(unit, vtdUnits, dump !== null, entries.length, file.note),
      })
    }
  }
  const others = [...byRid.values()].flat().map((e) => ({
    unit: e.unit,
    requesterId: e.requesterId,
    ...attachmentOf(e),
  }))
  return {
    source: dump || devices.some((d) => d.attachments.some((a) => a.dte)) ? 'debugfs' : 'sysfs',
    debugfs: {path: file.path, state: file.state, note: file.note},
    devices,
    others,
    notes: dump?.notes ?? [],
  }
}

function deviceNote(
  unit: string | null,
  vtdUnits: Set<string>,
  read: boolean,
  entries: number,
  why: string | null,
): string | null {
  if (unit === null) return 'no IOMMU unit translates this device'
  if (!vtdUnits.has(unit))
    return `unit ${unit} is neither VT-d nor AMD-Vi: only its group's default domain is known`
  if (!read) return `not read from debugfs: ${why}`
  return entries
    ? null
    : 'no present context or PASID entry: the unit blocks its DMA (a blocking domain, or nothing attached)'
}

/** The processes holding the device's cdev or its group's node, and whether none was missed. */
function holdersOf(root: Root, bdf: string, group: number): {holders: Holder[]; complete: boolean} {
  const cdev = readPciDevice(root, bdf)?.vfioCdev
  const found = deviceHolders(root, [...(cdev ? [cdev] : []), `/dev/vfio/${group}`])
  return {holders: found.holders, complete: found.known && found.note === null}
}

/** `iommuctl domains translate --json`: the walk (each level's entry, then the page or where it stopped) and what it walked. */
export interface TranslateRecord extends WalkResult {
  bdf: Bdf
  pasid: number | null
  iova: Hex
  /** The dump walked. */
  source: string
  /** The device's entry for this PASID from dmar_translation_struct; null when it has none. */
  attachment: LiveAttachment | null
  /** The table's root as the dump's header gives it; null for pass-through. */
  pageTableRoot: Hex | null
  /** Levels of the table walked; 0 for pass-through. */
  levels: number
  notes: string[]
}

const IOVA = /^0x[0-9a-f]{1,16}$/i
/** PASIDs are 20 bits (PCIe PASID capability, VT-d scalable mode). */
const MAX_PASID = (1 << 20) - 1

function unavailable(code: string, message: string, path: string, suggestion?: string): IommuctlError {
  return new IommuctlError(code, message, {exit: ExitCode.unavailable, path, suggestion})
}

/** Walks an IOVA of a device (or one PASID of it) through the page table debugfs dumps for it. */
export function translate(root: Root, bdf: string, iovaText: string, pasid: number | null): TranslateRecord {
  requireBdfs([bdf])
  if (!IOVA.test(iovaText)) {
    throw new IommuctlError('BAD_IOVA', `${JSON.stringify(iovaText)} is not an IOVA.`, {
      exit: ExitCode.usage,
      suggestion: 'Give it in hex with 0x, at most 16 digits, e.g. 0x100000000.',
    })
  }
  if (pasid !== null && (!Number.isInteger(pasid) || pasid < 0 || pasid > MAX_PASID)) {
    throw new IommuctlError('BAD_PASID', `PASID ${pasid} is outside 0-${MAX_PASID}.`, {exit: ExitCode.usage})
  }
  const iova = BigInt(iovaText)
  const brief = readPciBrief(root, bdf)
  if (!brief) throw noSuchDevice(bdf)
  if (listUnits(root).find((u) => u.name === brief.unit)?.kind === 'amd-vi') {
    throw unavailable(
      'NO_PAGE_TABLE',
      `${bdf} is behind AMD-Vi unit ${brief.unit}, whose debugfs dumps no page table (Linux 7.2 has devid, devtbl, irqtbl and each unit's mmio, capability and cmdbuf).`,
      AMD_DEVTBL,
      'Its device-table entry (domain, translation, page-table root and levels) is in `iommuctl domains list`.',
    )
  }
  const source = `${INTEL_DEBUGFS_DIR}/${bdf}/${pasid ? `${pasid.toString(16)}/` : ''}domain_translation_struct`
  const file = readDebugfs(root, source)
  if (file.text === null) {
    if (file.state === 'absent') {
      throw unavailable(
        'NO_PAGE_TABLE',
        `${bdf} has no page table in debugfs${pasid ? ` for PASID ${pasid}` : ''}: ${file.note}.`,
        source,
        pasid
          ? 'The kernel makes that file only for a PASID attached to a paging domain; see `iommuctl domains list`.'
          : 'The kernel makes it for devices behind a VT-d unit; see `iommuctl domains list` for its unit.',
      )
    }
    throw unavailable('DEBUGFS_UNAVAILABLE', `Cannot walk ${bdf}'s page table: ${file.note}.`, source)
  }
  const ctx = readDebugfs(root, TRANSLATION_STRUCT)
  const entries = ctx.text === null ? [] : parseTranslationStruct(ctx.text).entries
  const line = entries.find(
    (e) => e.unit === brief.unit && e.requesterId === bdf.slice(5) && (e.pasid ?? 0) === (pasid ?? 0),
  )
  const attachment = line ? attachmentOf(line) : null
  const dump = parsePageTableDump(file.text)
  const notes = [...dump.notes]
  if (ctx.text === null) notes.push(`no entry: ${ctx.note}`)
  if (dump.notEnabled) {
    throw unavailable('NOT_TRANSLATING', `DMA remapping is not enabled on ${dump.notEnabled}.`, source)
  }
  const record = {bdf, pasid, iova: hex(iova), source, attachment}
  if (attachment?.translation === 'pass-through') {
    const identity: WalkResult = {
      steps: [],
      mapped: true,
      stoppedAt: null,
      pageSize: null,
      physicalAddress: hex(iova),
      readable: null,
      writable: null,
    }
    notes.push('pass-through: the unit does not translate, the IOVA is the physical address')
    return {...record, pageTableRoot: null, levels: 0, ...identity, notes}
  }
  if (dump.device === null) {
    throw unavailable(
      'NO_PAGE_TABLE',
      `${bdf} has no page table the kernel can dump${pasid ? ` for PASID ${pasid}` : ''}: its entry is not present or not a paging one.`,
      source,
      'See its attachment in `iommuctl domains list`.',
    )
  }
  const levels = attachment?.levels ?? inferLevels(dump.leaves.map((l) => l.entries))
  if (attachment?.levels == null) notes.push(`levels taken from the dump: ${levels}`)
  const walk = walkIova(dump, iova, levels)
  const cut = root.manifest?.cut?.find((c) => c.path === source)
  if (cut && !walk.mapped) {
    notes.push(
      `the snapshot kept ${cut.keptBytes} of the dump's ${cut.totalBytes} bytes: the page may be in what was cut`,
    )
  }
  return {...record, pageTableRoot: dump.pageTableRoot, levels, ...walk, notes}
}

/** The highest level with an entry in any leaf line; 4 (48-bit, the usual) for an empty table. */
function inferLevels(rows: bigint[][]): number {
  let top = 0
  for (const r of rows) for (let l = 5; l > top; l--) if (r[l - 1]) top = l
  return top || 4
}
