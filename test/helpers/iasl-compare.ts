// Compares this tool's DMAR and IVRS decode with ACPICA's iasl disassembly of the same bytes,
// field by field. The field offsets are the layouts of the VT-d specification (chapter 8) and
// the AMD IOMMU specification (IVRS), which iasl prints at those offsets; values are compared
// as numbers (or strings where iasl quotes one), never against this tool's earlier output.
import {AcpiHeader} from '../../src/decode/acpi.js'
import {decodeDmar, DeviceScope, DmarTable} from '../../src/decode/dmar.js'
import {decodeIvrs, IvrsTable, requesterId} from '../../src/decode/ivrs.js'
import {IaslDecode, IaslField, parseIasl} from './iasl.js'

type Expected = number | string | bigint | boolean

export interface Tally {
  agree: number
  disagree: string[]
  /** Fields iasl printed that we check but it did not print for this table (older iasl versions). */
  absent: number
  /** Structures iasl found that the decode did not, and the reverse. */
  missed: string[]
  /** Structures the decode found inside what iasl said it does not know (see IaslDecode.unknownAfter). */
  beyondIasl: number
}

function iaslValue(field: IaslField, want: Expected): boolean {
  const v = field.value
  if (typeof want === 'string' && !want.startsWith('0x')) {
    const quoted = /^"(.*)"/.exec(v)
    return quoted !== null && quoted[1] === want
  }
  const token = v.split(/\s+/)[0] ?? ''
  if (!/^[0-9A-F]+$/i.test(token)) return false
  return BigInt(`0x${token}`) === BigInt(typeof want === 'boolean' ? Number(want) : want)
}

class Comparer {
  readonly fields: Map<number, IaslField[]>
  constructor(
    readonly iasl: IaslDecode,
    readonly tally: Tally,
    readonly file: string,
  ) {
    this.fields = iasl.fields
  }

  /** Compares the field iasl printed at offset under one of names with what the decode says. */
  check(offset: number, names: string[], want: Expected, what: string): void {
    const field = this.fields.get(offset)?.find((f) => names.includes(f.name))
    if (!field) {
      this.tally.absent++
      return
    }
    // iasl prints a numeric CID/HID when its bytes are not text, and other bytes as they are
    // where the decode shows '?': only quoted printable text compares as text.
    if (
      typeof want === 'string' &&
      !want.startsWith('0x') &&
      (!field.value.startsWith('"') || want.includes('?'))
    )
      return void this.tally.absent++
    if (iaslValue(field, want)) this.tally.agree++
    else
      this.tally.disagree.push(
        `${this.file} @0x${offset.toString(16)} ${what}: iasl "${field.value}", decoded ${String(want)}`,
      )
  }

  /** Offsets where iasl starts a structure under one of names. */
  starts(names: string[]): number[] {
    return [...this.fields.values()]
      .flat()
      .filter((f) => names.includes(f.name))
      .map((f) => f.offset)
  }

  header(h: AcpiHeader): void {
    this.check(0, ['Signature'], h.signature, 'signature')
    this.check(4, ['Table Length'], h.length, 'length')
    this.check(8, ['Revision'], h.revision, 'revision')
    this.check(9, ['Checksum'], h.checksum, 'checksum')
    this.check(10, ['Oem ID'], h.oemId, 'OEM id')
    this.check(16, ['Oem Table ID'], h.oemTableId, 'OEM table id')
    this.check(24, ['Oem Revision'], h.oemRevision, 'OEM revision')
    this.check(28, ['Asl Compiler ID'], h.creatorId, 'creator id')
    this.check(32, ['Asl Compiler Revision'], h.creatorRevision, 'creator revision')
  }

  /** Every offset iasl starts a structure at is one the decode has, and the reverse. */
  sameStarts(iaslNames: string[], ours: number[], what: string): void {
    const theirs = new Set(this.starts(iaslNames))
    const mine = new Set(ours)
    for (const o of theirs)
      if (!mine.has(o))
        this.tally.missed.push(`${this.file}: iasl has a ${what} at 0x${o.toString(16)}, the decode not`)
    for (const o of mine) {
      if (theirs.has(o)) continue
      if (this.iasl.unknownAfter.some((u) => o > u)) this.tally.beyondIasl++
      else this.tally.missed.push(`${this.file}: the decode has a ${what} at 0x${o.toString(16)}, iasl not`)
    }
  }
}

function compareScopes(c: Comparer, scopes: DeviceScope[]): void {
  for (const s of scopes) {
    c.check(s.offset, ['Device Scope Type'], s.type, 'scope type')
    c.check(s.offset + 1, ['Entry Length'], s.length, 'scope length')
    c.check(s.offset + 4, ['Enumeration ID'], s.enumerationId, 'enumeration id')
    c.check(s.offset + 5, ['PCI Bus Number'], s.startBus, 'start bus')
    s.path.forEach((p, i) => {
      const field = c.fields.get(s.offset + 6 + 2 * i)?.find((f) => f.name === 'PCI Path')
      if (!field) return void c.tally.absent++
      const [dev, fn] = field.value.split(',').map((x) => Number.parseInt(x, 16))
      if (dev === p.device && fn === p.function) c.tally.agree++
      else
        c.tally.disagree.push(
          `${c.file} @0x${(s.offset + 6 + 2 * i).toString(16)} path: iasl ${field.value}, decoded ${p.device},${p.function}`,
        )
    })
  }
}

export function compareDmar(t: DmarTable, iasl: IaslDecode, tally: Tally, file: string): void {
  const c = new Comparer(iasl, tally, file)
  if (t.header) c.header(t.header)
  if (t.hostAddressWidth !== null)
    c.check(36, ['Host Address Width'], t.hostAddressWidth, 'host address width')
  if (t.flags !== null) c.check(37, ['Flags'], t.flags, 'flags')
  c.sameStarts(
    ['Subtable Type'],
    t.structures.map((s) => s.offset),
    'structure',
  )
  const scopes: number[] = []
  for (const s of t.structures) {
    c.check(s.offset, ['Subtable Type'], s.type, 'type')
    c.check(s.offset + 2, ['Length'], s.length, 'length')
    switch (s.kind) {
      case 'DRHD':
        c.check(s.offset + 4, ['Flags'], s.flags, 'DRHD flags')
        c.check(s.offset + 6, ['PCI Segment Number'], s.segment, 'DRHD segment')
        c.check(s.offset + 8, ['Register Base Address'], s.registerBase, 'DRHD base')
        break
      case 'RMRR':
        c.check(s.offset + 6, ['PCI Segment Number'], s.segment, 'RMRR segment')
        c.check(s.offset + 8, ['Base Address'], s.base, 'RMRR base')
        c.check(s.offset + 16, ['End Address (limit)'], s.end, 'RMRR end')
        break
      case 'ATSR':
      case 'SATC':
        c.check(s.offset + 4, ['Flags'], s.flags, `${s.kind} flags`)
        c.check(s.offset + 6, ['PCI Segment Number'], s.segment, `${s.kind} segment`)
        break
      case 'RHSA':
        c.check(s.offset + 8, ['Base Address'], s.registerBase, 'RHSA base')
        c.check(s.offset + 16, ['Proximity Domain'], s.proximityDomain, 'RHSA proximity domain')
        break
      case 'ANDD':
        c.check(s.offset + 7, ['Device Number'], s.deviceNumber, 'ANDD number')
        c.check(s.offset + 8, ['Device Name'], s.name, 'ANDD name')
        break
      default:
    }
    if ('scopes' in s && s.kind !== 'SIDP') {
      compareScopes(c, s.scopes)
      scopes.push(...s.scopes.map((x) => x.offset))
    }
  }
  c.sameStarts(['Device Scope Type'], scopes, 'device scope')
}

export function compareIvrs(t: IvrsTable, iasl: IaslDecode, tally: Tally, file: string): void {
  const c = new Comparer(iasl, tally, file)
  if (t.header) c.header(t.header)
  if (t.info) c.check(36, ['Virtualization Info'], t.info.raw, 'IVinfo')
  const starts: number[] = []
  for (const s of t.structures) {
    starts.push(s.offset)
    c.check(s.offset, ['Subtable Type'], s.type, 'type')
    c.check(s.offset + 2, ['Length'], s.length, 'length')
    if (s.kind === 'IVHD') {
      c.check(s.offset + 1, ['Flags', 'Flags (decoded below)'], s.flags, 'IVHD flags')
      c.check(s.offset + 4, ['DeviceId'], requesterId(s.iommu), 'IOMMU id')
      c.check(s.offset + 6, ['Capability Offset'], s.capabilityOffset, 'capability offset')
      c.check(s.offset + 8, ['Base Address'], s.base, 'IVHD base')
      c.check(s.offset + 16, ['PCI Segment Group'], s.segment, 'IVHD segment')
      c.check(s.offset + 18, ['Virtualization Info'], s.info, 'IOMMU info')
      c.check(s.offset + 20, ['Feature Reporting', 'Attributes'], s.attributes, 'attributes')
      if (s.efr) c.check(s.offset + 24, ['EFR Image'], s.efr, 'EFR image')
      for (const e of s.entries) {
        starts.push(e.offset)
        c.check(e.offset, ['Subtable Type', 'Entry Type'], e.type, 'entry type')
        c.check(e.offset + 1, ['Device ID'], requesterId(e.device), 'entry device')
        c.check(e.offset + 3, ['Data Setting', 'Data Setting (decoded below)'], e.data, 'data setting')
        if (e.alias) c.check(e.offset + 5, ['Source Used Device ID'], requesterId(e.alias), 'alias')
        if (e.special) {
          c.check(e.offset + 4, ['Handle'], e.special.handle, 'special handle')
          c.check(e.offset + 5, ['Source Used Device ID'], requesterId(e.special.source), 'special source')
          const variety = {ioapic: 1, hpet: 2, unknown: -1}[e.special.variety]
          if (variety > 0) c.check(e.offset + 7, ['Variety'], variety, 'special variety')
        }
        if (e.acpi) {
          c.check(e.offset + 4, ['ACPI HID'], e.acpi.hid, 'ACPI HID')
          c.check(e.offset + 12, ['ACPI CID'], e.acpi.cid, 'ACPI CID')
          c.check(e.offset + 20, ['UID Format'], e.acpi.uidType, 'UID format')
          c.check(e.offset + 22, ['UID'], e.acpi.uid, 'UID')
        }
      }
    } else if (s.kind === 'IVMD') {
      c.check(s.offset + 1, ['Flags', 'Flags (decoded below)'], s.flags, 'IVMD flags')
      if (s.device) c.check(s.offset + 4, ['DeviceId'], requesterId(s.device), 'IVMD device')
      if (s.rangeEnd) c.check(s.offset + 6, ['Auxiliary Data'], requesterId(s.rangeEnd), 'IVMD range end')
      c.check(s.offset + 16, ['Start Address'], s.start, 'IVMD start')
      c.check(s.offset + 24, ['Memory Length'], s.size, 'IVMD length')
    }
  }
  c.sameStarts(['Subtable Type', 'Entry Type'], starts, 'block or device entry')
}

export const newTally = (): Tally => ({agree: 0, disagree: [], absent: 0, missed: [], beyondIasl: 0})

export function compareFile(file: string, bytes: Buffer, iasl: string, tally: Tally): void {
  const decoded = parseIasl(iasl)
  const sig = bytes.subarray(0, 4).toString('latin1')
  if (sig === 'DMAR') compareDmar(decodeDmar(bytes), decoded, tally, file)
  else compareIvrs(decodeIvrs(bytes), decoded, tally, file)
}

export function report(name: string, tally: Tally, tables: number): void {
  console.log(
    `${name}: ${tables} tables, ${tally.agree} fields agree with iasl, ${tally.disagree.length} disagree, ${tally.absent} not printed by iasl, ${tally.missed.length} structures found by one side only, ${tally.beyondIasl} inside structures iasl does not know`,
  )
}
