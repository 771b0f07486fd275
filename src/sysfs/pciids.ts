import * as fs from 'node:fs'
import {gunzipSync} from 'node:zlib'

/**
 * Where distributions install the PCI ID database: Debian /usr/share/misc, Fedora and Arch
 * /usr/share/hwdata, some others /usr/share. Debian's lspci is built with zlib and opens
 * pci.ids.gz first, falling back to pci.ids (libpci's pci_open), so each .gz comes first too.
 */
export const PCI_IDS_PATHS: readonly string[] = [
  '/usr/share/misc/pci.ids',
  '/usr/share/hwdata/pci.ids',
  '/usr/share/pci.ids',
].flatMap((p) => [`${p}.gz`, p])

export interface PciClassNames {
  class: string | null
  subclass: string | null
  progIf: string | null
}

/** The lines nested under an entry, as offsets into the file's text. */
interface Span {
  start: number
  end: number
}

/** An entry whose nested lines are parsed on the first lookup that needs them. */
interface Lazy<T> {
  name: string
  span: Span
  children?: Map<number, T>
}

/** Devices by id; under each, subsystem names by subVendor << 16 | subDevice. */
type Vendor = Lazy<Lazy<string>>

interface Database {
  path: string
  text: string
  vendors: Map<number, Vendor>
  /** subVendor << 16 | subDevice, from the "S vvvv" blocks */
  genericSubsystems: Map<number, string>
  classes: Map<number, string>
  /** class << 8 | subclass */
  subclasses: Map<number, string>
  /** class << 16 | subclass << 8 | prog-if */
  progIfs: Map<number, string>
}

const pair = (hi: number, lo: number) => hi * 0x10000 + lo

/** One read per file per process, however many PciIds are made. */
const loaded = new Map<string, Database>()

/**
 * Names from pci.ids, looked up as libpci (lspci) looks them up. Every lookup returns exactly
 * what the file says or null: never lspci's made-up "Device 1234" fallbacks, which are the
 * printer's business. Without a readable file every lookup is null.
 *
 * Cost: the first lookup reads the file (1.3 MB, 36,000 lines in the 2023 database) and indexes
 * its 2,300 vendors and the class list; each vendor's devices, and each device's subsystems, are
 * parsed on the first lookup that needs them. On a busy 2-core VM that was 8-16 ms for the index,
 * 5-15 ms for Intel's 9,700 lines and 1-3 ms for a small vendor, all cold (unoptimised) code;
 * parsing the whole file up front took 30-45 ms there. The text stays in memory (about 2.7 MB)
 * for the lazy parts. test/fixture/lspci.test.ts prints what it measures.
 */
export class PciIds {
  private db: Database | null | undefined

  constructor(private readonly candidates: readonly string[] = PCI_IDS_PATHS) {}

  /** The file the names come from, or null when none of the candidates could be read. */
  get path(): string | null {
    return this.load()?.path ?? null
  }

  vendorName(vendor: number): string | null {
    return this.load()?.vendors.get(vendor)?.name ?? null
  }

  deviceName(vendor: number, device: number): string | null {
    return this.device(vendor, device)?.name ?? null
  }

  /**
   * libpci's id_lookup_subsys: the entry under the device, else a generic "S" block entry, else,
   * when the subsystem ids are the device's own, the device's name.
   */
  subsystemName(vendor: number, device: number, subVendor: number, subDevice: number): string | null {
    const db = this.load()
    if (!db) return null
    const sub = pair(subVendor, subDevice)
    return (
      (vendor > 0 && device > 0 ? this.subsystems(vendor, device)?.get(sub) : undefined) ??
      db.genericSubsystems.get(sub) ??
      (vendor === subVendor && device === subDevice ? this.deviceName(vendor, device) : null)
    )
  }

  /** Names for a 24-bit class code (class, subclass, prog-if), as in sysfs's class attribute. */
  className(classCode: number): PciClassNames {
    const db = this.load()
    const cls = (classCode >> 16) & 0xff
    const sub = (classCode >> 8) & 0xff
    const progIf = classCode & 0xff
    return {
      class: db?.classes.get(cls) ?? null,
      subclass: db?.subclasses.get((cls << 8) | sub) ?? null,
      progIf: db?.progIfs.get((cls << 16) | (sub << 8) | progIf) ?? null,
    }
  }

  private device(vendor: number, device: number): Lazy<string> | undefined {
    const db = this.load()
    const v = db?.vendors.get(vendor)
    if (!db || !v) return undefined
    v.children ??= parseDevices(db.text, v.span)
    return v.children.get(device)
  }

  private subsystems(vendor: number, device: number): Map<number, string> | undefined {
    const db = this.load()
    const d = this.device(vendor, device)
    if (!db || !d) return undefined
    d.children ??= parseSubsystems(db.text, d.span)
    return d.children
  }

  private load(): Database | null {
    if (this.db !== undefined) return this.db
    this.db = null
    for (const path of this.candidates) {
      const cached = loaded.get(path)
      if (cached) return (this.db = cached)
      let text: string
      try {
        const raw = fs.readFileSync(path)
        text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')
      } catch {
        continue
      }
      this.db = index(path, text)
      loaded.set(path, this.db)
      return this.db
    }
    return null
  }
}

/** libpci's id_hex: n hex digits at s[i], or -1. */
function hexAt(s: string, i: number, n: number): number {
  let x = 0
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k)
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1
    if (d < 0) return -1
    x = x * 16 + d
  }
  return x
}

const isWhite = (s: string, i: number) => {
  const c = s.charCodeAt(i)
  return c === 32 || c === 9
}

/** The name after an id that ends at i: libpci skips the blanks before it. */
function nameAt(s: string, i: number): string {
  while (isWhite(s, i)) i++
  return s.slice(i)
}

/** A line as libpci sees it: cut at the first CR too, less one trailing blank. */
function clean(line: string): string {
  const cr = line.indexOf('\r')
  if (cr >= 0) line = line.slice(0, cr)
  return isWhite(line, line.length - 1) ? line.slice(0, -1) : line
}

/** Blank lines and comments, which libpci skips at any depth. */
function isFiller(line: string): boolean {
  let i = 0
  while (isWhite(line, i)) i++
  return i === line.length || line[i] === '#'
}

/**
 * Calls fn for each entry depth tabs deep in span, with its line (less those tabs) and the span
 * of the lines nested under it. A regular expression finds the entries, stepping over deeper
 * lines without JavaScript looking at them: that is what keeps the first pass over the file cheap.
 */
function eachEntry(text: string, span: Span, depth: number, fn: (line: string, nested: Span) => void): void {
  // Slicing bounds the search to the span (V8 slices without copying).
  const body = text.slice(span.start, span.end)
  const entries = new RegExp(`(?:^|\\n)(\\t{${depth}}[^\\t\\n][^\\n]*)`, 'g')
  let entry: {line: string; start: number} | null = null
  for (let m = entries.exec(body); m; m = entries.exec(body)) {
    const eol = m.index + m[0].length
    const line = clean(m[1]!)
    if (isFiller(line)) continue
    if (entry) fn(entry.line, {start: entry.start, end: span.start + eol - m[1]!.length})
    entry = {line: line.slice(depth), start: span.start + Math.min(eol + 1, body.length)}
  }
  if (entry) fn(entry.line, {start: entry.start, end: span.end})
}

/** libpci refuses empty names, and files with duplicates; here the first of two wins. */
function add<T>(map: Map<number, T>, key: number, name: string, value: T): void {
  if (name && !map.has(key)) map.set(key, value)
}

/**
 * libpci's id_parse_list for the top level: vendors are indexed by span and parsed later, the
 * small class and generic-subsystem blocks at once. A malformed line is skipped with whatever
 * nests under it, where lspci would stop with "Parse error".
 */
function index(path: string, text: string): Database {
  const db: Database = {
    path,
    text,
    vendors: new Map(),
    genericSubsystems: new Map(),
    classes: new Map(),
    subclasses: new Map(),
    progIfs: new Map(),
  }
  eachEntry(text, {start: 0, end: text.length}, 0, (line, nested) => {
    if (line[1] === ' ' && line[0] === 'C') {
      const cls = hexAt(line, 2, 2)
      if (cls < 0 || !isWhite(line, 4)) return
      const name = nameAt(line, 5)
      add(db.classes, cls, name, name)
      parseSubclasses(db, cls, nested)
    } else if (line[1] === ' ' && line[0] === 'S') {
      const subVendor = hexAt(line, 2, 4)
      if (subVendor < 0 || line.length !== 6) return
      eachEntry(text, nested, 1, (l) => {
        const subDevice = hexAt(l, 0, 4)
        const name = nameAt(l, 5)
        if (subDevice >= 0 && isWhite(l, 4)) add(db.genericSubsystems, pair(subVendor, subDevice), name, name)
      })
    } else if (!(line[1] === ' ' && /[A-Z]/.test(line[0] ?? ''))) {
      // Any other "X " block is reserved for future use; libpci skips it and all it holds.
      const vendor = hexAt(line, 0, 4)
      const name = nameAt(line, 5)
      if (vendor >= 0 && isWhite(line, 4)) add(db.vendors, vendor, name, {name, span: nested})
    }
  })
  return db
}

function parseSubclasses(db: Database, cls: number, span: Span): void {
  eachEntry(db.text, span, 1, (line, nested) => {
    const sub = hexAt(line, 0, 2)
    if (sub < 0 || !isWhite(line, 2)) return
    const name = nameAt(line, 3)
    add(db.subclasses, (cls << 8) | sub, name, name)
    eachEntry(db.text, nested, 2, (l) => {
      const progIf = hexAt(l, 0, 2)
      const progIfName = nameAt(l, 3)
      if (progIf >= 0 && isWhite(l, 2))
        add(db.progIfs, (cls << 16) | (sub << 8) | progIf, progIfName, progIfName)
    })
  })
}

function parseDevices(text: string, span: Span): Map<number, Lazy<string>> {
  const devices = new Map<number, Lazy<string>>()
  eachEntry(text, span, 1, (line, nested) => {
    const device = hexAt(line, 0, 4)
    const name = nameAt(line, 5)
    if (device >= 0 && isWhite(line, 4)) add(devices, device, name, {name, span: nested})
  })
  return devices
}

function parseSubsystems(text: string, span: Span): Map<number, string> {
  const subsystems = new Map<number, string>()
  eachEntry(text, span, 2, (line) => {
    const subVendor = hexAt(line, 0, 4)
    const subDevice = hexAt(line, 5, 4)
    const name = nameAt(line, 10)
    if (subVendor >= 0 && isWhite(line, 4) && subDevice >= 0 && isWhite(line, 9)) {
      add(subsystems, pair(subVendor, subDevice), name, name)
    }
  })
  return subsystems
}
