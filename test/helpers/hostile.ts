import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {MAX_ENTRIES, MAX_LINKS} from '../../src/host.js'
import {fixture} from './cli.js'
import {paxRecord, TarEntry, treeEntries, writeTarGz} from './tarball.js'

/**
 * Hostile inputs made from the captured fixtures (issue 10): each case is a fresh copy of a
 * fixture tree, mutated the way an attacker handing over a snapshot, a journal or a plan would,
 * and the one command line to run against it. Everything is drawn from a PRNG seeded by the
 * suite's seed and the case id, so a case id and a seed reproduce a case exactly.
 */

/** Cases per area at the default size (HOSTILE_CASES scales them). */
export const AREAS = {
  links: 320,
  files: 240,
  names: 120,
  manifest: 60,
  tarballs: 120,
  journals: 100,
  plans: 80,
  outputs: 24,
} as const
export type Area = keyof typeof AREAS

export interface CaseId {
  id: string
  area: Area
  index: number
}

/** The case ids for a suite of about `total` cases, every area represented. */
export function caseList(total: number): CaseId[] {
  const full = Object.values(AREAS).reduce((a, b) => a + b, 0)
  return (Object.entries(AREAS) as [Area, number][]).flatMap(([area, n]) =>
    Array.from({length: Math.max(1, Math.round((n * total) / full))}, (_, index) => ({
      id: `${area}-${index}`,
      area,
      index,
    })),
  )
}

/** mulberry32: small, fast and the same on every machine. */
export class Rand {
  private s: number
  constructor(seed: number) {
    this.s = seed >>> 0
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  bytes(n: number): Buffer {
    return Buffer.from(Array.from({length: n}, () => this.int(256)))
  }
}

/** FNV-1a: a case's own seed from the suite seed and its id. */
export function hash(s: string): number {
  let h = 0x811c9dc5
  for (const c of Buffer.from(s)) h = Math.imul(h ^ c, 0x01000193) >>> 0
  return h
}

export interface TreeEntry {
  rel: string
  kind: 'file' | 'dir' | 'link'
}

/** What a fixture holds, read once from its unpacked copy: where to aim mutations. */
export interface BaseTree {
  name: string
  dir: string
  entries: TreeEntry[]
  bdfs: string[]
  groups: string[]
  units: string[]
  groupOf: Map<string, string>
  release: string | null
}

const BDF_RE = /\b[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b/

export function describeTree(name: string, dir: string): BaseTree {
  const entries: TreeEntry[] = []
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n
      const st = fs.lstatSync(path.join(dir, r))
      if (st.isSymbolicLink()) entries.push({rel: r, kind: 'link'})
      else if (st.isDirectory()) {
        entries.push({rel: r, kind: 'dir'})
        walk(r)
      } else if (st.isFile()) entries.push({rel: r, kind: 'file'})
    }
  }
  walk('')
  const list = (rel: string) =>
    fs.existsSync(path.join(dir, rel)) ? fs.readdirSync(path.join(dir, rel)).sort() : []
  const bdfs = list('sys/bus/pci/devices')
  const groupOf = new Map<string, string>()
  for (const b of bdfs) {
    const link = path.join(dir, 'sys/bus/pci/devices', b, 'iommu_group')
    if (fs.existsSync(link)) groupOf.set(b, path.basename(fs.readlinkSync(link)))
  }
  const release = path.join(dir, 'proc/sys/kernel/osrelease')
  return {
    name,
    dir,
    entries,
    bdfs,
    groups: list('sys/kernel/iommu_groups'),
    units: list('sys/class/iommu'),
    groupOf,
    release: fs.existsSync(release) ? fs.readFileSync(release, 'utf8').trim() : null,
  }
}

/** One case's private world: a copy of the root, a decoy outside it, its own TMPDIR. */
export interface Ctx {
  id: string
  rand: Rand
  base: BaseTree
  /** The case directory; everything below is inside it. */
  dir: string
  root: string
  /** Outside the root: what every escape points at. */
  decoy: string
  secret: string
  /** The decoy's unique content: it must appear in no output. */
  token: string
  tmp: string
  out: string
  journal: string
  work: string
  /** Suite-wide cache of inputs too big to make per case (read-only to cases). */
  shared: string
  /** What was done to the tree, for the failure report. */
  did: string[]
}

/** The command line a case runs, and what beyond the common contract it must satisfy. */
export interface Invocation {
  argv: string[]
  /** The command family, for the counts. */
  family: string
  json: boolean
  stdin?: {file: string} | {text: string | Buffer; chunks?: number; delayMs?: number}
  closeStdout?: boolean
  binaryStdout?: boolean
  /** Paths that the command may write (the output, a journal); the rest of the case must not change. */
  outputs?: string[]
  /** A snapshot written by the command: scanned for the decoy. */
  snapshot?: string
  /** The schema a successful --json output matches. */
  schema?: string
  /** A failing exit still prints the record, not an error (status: not ready, no IOMMU). */
  recordOnFailure?: boolean
  expect?: (o: Outcome) => string | null
}

export interface Outcome {
  status: number | null
  signal: string | null
  stdout: string
  stderr: string
  /** stdout parsed, under --json. */
  json: unknown
}

/** Names for decoy files: the attributes readers look for, each holding the token. */
const DECOY_FILES = [
  'driver_override',
  'modalias',
  'type',
  'vendor',
  'device',
  'class',
  'config',
  'cap',
  'ecap',
  'version',
  'address',
  'reserved_regions',
  'uevent',
  'cmdline',
  'osrelease',
  'modules.alias',
  'modules.dep',
  'journal.json',
  'iommuctl-snapshot.json',
]

/** Makes the decoy: a file, a FIFO, and a directory shaped like the sysfs dirs links replace. */
export function makeDecoy(ctx: Ctx): void {
  fs.mkdirSync(ctx.decoy, {recursive: true})
  fs.writeFileSync(ctx.secret, `${ctx.token}\n`)
  execFileSync('mkfifo', [path.join(ctx.decoy, 'fifo')])
  for (const sub of ['', 'intel-iommu', 'amd-iommu', 'devices', 'slaves', 'parameters']) {
    const d = path.join(ctx.decoy, sub)
    fs.mkdirSync(d, {recursive: true})
    fs.writeFileSync(path.join(d, ctx.token), `${ctx.token}\n`)
    for (const f of DECOY_FILES) {
      fs.writeFileSync(
        path.join(d, f),
        f === 'modules.alias'
          ? `alias vfio_pci:* ${ctx.token}\nalias pci:* ${ctx.token}\n`
          : `${ctx.token}\n`,
      )
    }
  }
}

const abs = (ctx: Ctx, rel: string) => path.join(ctx.root, rel)

function rmrf(p: string): void {
  fs.rmSync(p, {recursive: true, force: true})
}

function link(ctx: Ctx, rel: string, target: string): void {
  rmrf(abs(ctx, rel))
  fs.mkdirSync(path.dirname(abs(ctx, rel)), {recursive: true})
  fs.symlinkSync(target, abs(ctx, rel))
  ctx.did.push(`ln -s ${JSON.stringify(target)} ${rel}`)
}

function write(ctx: Ctx, rel: string, data: string | Buffer, note = ''): void {
  rmrf(abs(ctx, rel))
  fs.mkdirSync(path.dirname(abs(ctx, rel)), {recursive: true})
  fs.writeFileSync(abs(ctx, rel), data)
  ctx.did.push(`write ${rel} (${note || `${Buffer.byteLength(data)} bytes`})`)
}

function mkfifo(ctx: Ctx, rel: string): void {
  rmrf(abs(ctx, rel))
  execFileSync('mkfifo', [abs(ctx, rel)])
  ctx.did.push(`mkfifo ${rel}`)
}

function sparse(ctx: Ctx, rel: string, size = 2 ** 31): void {
  rmrf(abs(ctx, rel))
  fs.writeFileSync(abs(ctx, rel), '')
  fs.truncateSync(abs(ctx, rel), size)
  ctx.did.push(`truncate -s ${size} ${rel} (sparse)`)
}

function depth(rel: string): number {
  return rel.split('/').length
}

/** Which BDF, group and unit a path belongs to: the commands that read it. */
interface Hints {
  bdf?: string
  group?: string
  unit?: string
}

function hintsFor(ctx: Ctx, rel: string): Hints {
  const h: Hints = {}
  const bdf = BDF_RE.exec(rel)?.[0]
  if (bdf && ctx.base.bdfs.includes(bdf)) h.bdf = bdf
  const group = /iommu_groups\/([^/]+)/.exec(rel)?.[1] ?? (h.bdf ? ctx.base.groupOf.get(h.bdf) : undefined)
  if (group) h.group = group
  const unit = /(?:class\/iommu|\/iommu)\/([^/]+)/.exec(rel)?.[1]
  if (unit && ctx.base.units.includes(unit)) h.unit = unit
  return h
}

/** The command families every case draws from, with the schema of their --json success. */
export function command(ctx: Ctx, root: string, hints: Hints, jsonShare = 0.75): Invocation {
  const r = ctx.rand
  const bdf = hints.bdf ?? r.pick(ctx.base.bdfs)
  const group = hints.group ?? (ctx.base.groups.length ? r.pick(ctx.base.groups) : '0')
  const unit = hints.unit ?? (ctx.base.units.length ? r.pick(ctx.base.units) : 'dmar0')
  const specific: [string, string[], string][] = []
  if (hints.bdf) {
    specific.push(['devices show', ['devices', 'show', bdf], 'device'])
    specific.push(['devices bind --dry-run', bindArgs(ctx, bdf), 'change'])
  }
  if (hints.group || hints.bdf) specific.push(['groups show', ['groups', 'show', group], 'group'])
  if (hints.unit) specific.push(['units show', ['units', 'show', unit], 'unit'])
  const general: [string, string[], string][] = [
    ['status', ['status'], 'status'],
    ['units', ['units'], 'units'],
    ['groups', ['groups'], 'groups'],
    ['devices', ['devices'], 'devices'],
    ['units show', ['units', 'show', unit], 'unit'],
    ['groups show', ['groups', 'show', group], 'group'],
    ['devices show', ['devices', 'show', bdf], 'device'],
    ['devices bind --dry-run', bindArgs(ctx, bdf), 'change'],
  ]
  const json = r.chance(jsonShare)
  if (r.chance(0.15)) return snapshotCommand(ctx, root, json)
  const [family, argv, schema] = specific.length && r.chance(0.6) ? r.pick(specific) : r.pick(general)
  return {
    family,
    argv: [...argv, '--root', root, ...(json ? ['--json'] : [])],
    json,
    schema,
    recordOnFailure: family === 'status',
  }
}

function bindArgs(ctx: Ctx, bdf: string): string[] {
  return [
    'devices',
    'bind',
    '--dry-run',
    bdf,
    ...(ctx.rand.chance(0.5) ? ['--group'] : []),
    '--journal-dir',
    ctx.journal,
  ]
}

export function snapshotCommand(ctx: Ctx, root: string, json: boolean): Invocation {
  const dir = ctx.rand.chance(0.3)
  const output = path.join(ctx.out, dir ? 'snapdir' : 'snap.tar.gz')
  return {
    family: 'snapshot',
    argv: ['snapshot', dir ? '--dir' : '-o', output, '--root', root, ...(json ? ['--json'] : [])],
    json,
    schema: 'snapshot',
    outputs: [output],
    snapshot: output,
  }
}

/** Packs the case's (mutated) root as a .tar.gz, with extra entries appended. */
async function tarRoot(ctx: Ctx, extra: TarEntry[] = [], opts: {base?: boolean} = {}): Promise<string> {
  const file = path.join(ctx.dir, 'in', 'root.tar.gz')
  fs.mkdirSync(path.dirname(file), {recursive: true})
  await writeTarGz(file, [...(opts.base === false ? [] : treeEntries(ctx.root)), ...extra])
  ctx.did.push(
    `pack the root as ${path.relative(ctx.dir, file)}${extra.length ? ` with ${extra.length} extra entries` : ''}`,
  )
  return file
}

/** Entries worth aiming at: what the readers of each command family open. */
function interesting(e: TreeEntry): boolean {
  return (
    /^(sys|proc)\//.test(e.rel) &&
    /iommu|pci0000|bus\/pci|proc\/|module\/(vfio|iommufd)|acpi\/tables/.test(e.rel) &&
    !/\/(power|msi_irqs)(\/|$)/.test(e.rel)
  )
}

function pickEntry(ctx: Ctx, kinds: TreeEntry['kind'][]): TreeEntry {
  const all = ctx.base.entries.filter((e) => kinds.includes(e.kind) && /^(sys|proc|dev)\//.test(e.rel))
  const good = all.filter(interesting)
  return ctx.rand.pick(good.length && ctx.rand.chance(0.8) ? good : all)
}

// ---- links: a file or directory retargeted out of the root, into loops, FIFOs and devices ----

const LINK_KINDS = [
  'absolute',
  'relative-chain',
  'relative-exact',
  'top-chain',
  'proc-self-root',
  'loop-self',
  'loop-pair',
  'loop-dot',
  'loop-up',
  'chain-45',
  'fifo-outside',
  'fifo-inside',
  'dev-zero',
  'dev-urandom',
  'proc-environ',
  'slash',
  'dir-for-file',
  'file-for-dir',
] as const

export async function links(ctx: Ctx): Promise<Invocation> {
  const r = ctx.rand
  const kind = LINK_KINDS[r.int(LINK_KINDS.length)]!
  const tar = kind !== 'relative-exact' && r.chance(0.25)
  const e = pickEntry(ctx, kind === 'file-for-dir' ? ['dir', 'link'] : ['file', 'link', 'dir'])
  const dir = path.posix.dirname(e.rel)
  const wantsDir =
    e.kind === 'dir' ||
    (e.kind === 'link' && fs.statSync(abs(ctx, e.rel), {throwIfNoEntry: false})?.isDirectory())
  const outside = wantsDir ? ctx.decoy : ctx.secret
  const up = (n: number) => '../'.repeat(n)
  // The unpacked root of a .tar.gz sits in TMPDIR/iommuctl-root-*: one level deeper in the case.
  const parents = tar ? 2 : 1
  switch (kind) {
    case 'absolute':
      link(ctx, e.rel, outside)
      break
    case 'relative-chain':
      link(ctx, e.rel, up(depth(dir) + 40) + outside.slice(1))
      break
    case 'relative-exact':
      link(ctx, e.rel, path.relative(abs(ctx, dir), outside))
      break
    case 'top-chain': {
      // Each link stays inside the root as text; followed by the OS, top/.. is the root's parent.
      link(ctx, `${dir}/top`, up(depth(dir)).replace(/\/$/, ''))
      const fromAbove = path.relative(path.resolve(ctx.root, up(parents)), outside)
      link(ctx, e.rel, `top/${up(parents)}${fromAbove}`)
      break
    }
    case 'proc-self-root':
      link(ctx, e.rel, `/proc/self/root${outside}`)
      break
    case 'loop-self':
      link(ctx, e.rel, path.posix.basename(e.rel))
      break
    case 'loop-pair':
      link(ctx, `${e.rel}.loop`, path.posix.basename(e.rel))
      link(ctx, e.rel, `${path.posix.basename(e.rel)}.loop`)
      break
    case 'loop-dot':
      link(ctx, e.rel, '.')
      break
    case 'loop-up':
      link(ctx, e.rel, '..')
      break
    case 'chain-45':
      for (let i = 0; i < 45; i++) link(ctx, `${dir}/chain${i}`, i === 44 ? outside : `chain${i + 1}`)
      link(ctx, e.rel, 'chain0')
      break
    case 'fifo-outside':
      link(ctx, e.rel, path.join(ctx.decoy, 'fifo'))
      break
    case 'fifo-inside':
      mkfifo(ctx, 'sys/fifo')
      link(ctx, e.rel, up(depth(dir) - 1) + 'sys/fifo')
      break
    case 'dev-zero':
      link(ctx, e.rel, '/dev/zero')
      break
    case 'dev-urandom':
      link(ctx, e.rel, '/dev/urandom')
      break
    case 'proc-environ':
      link(ctx, e.rel, '/proc/self/environ')
      break
    case 'slash':
      link(ctx, e.rel, '/')
      break
    case 'dir-for-file':
      link(ctx, e.rel, ctx.decoy)
      break
    case 'file-for-dir':
      link(ctx, e.rel, ctx.secret)
      break
  }
  const root = tar ? await tarRoot(ctx) : ctx.root
  return command(ctx, root, hintsFor(ctx, e.rel))
}

// ---- files: truncated, grown, sparse, FIFOs, garbage, escapes; values that are paths or globs ----

const FILE_KINDS = [
  'empty',
  'truncated',
  'grown-page',
  'grown-mib',
  'sparse-2g',
  'fifo',
  'garbage',
  'non-utf8',
  'ansi',
  'control',
  'directory',
  'huge-number',
  'osrelease-escape',
  'alias-backtrack',
  'alias-bad-class',
  'slave-loop',
] as const

const ANSI = '\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\x1b[2J\x1b[H'
const CONTROL = '\r\b\x00\x07\x0b\x0c\x7f\u009b31m\x1bc'

export async function files(ctx: Ctx): Promise<Invocation> {
  const r = ctx.rand
  const kind = FILE_KINDS[r.int(FILE_KINDS.length)]!
  const special = await specialFile(ctx, kind)
  if (special) return special
  const e = pickEntry(ctx, ['file'])
  const file = abs(ctx, e.rel)
  const original = fs.readFileSync(file)
  switch (kind) {
    case 'empty':
      write(ctx, e.rel, '', 'empty')
      break
    case 'truncated':
      write(ctx, e.rel, original.subarray(0, r.int(Math.max(1, original.length))), 'truncated')
      break
    case 'grown-page':
      write(ctx, e.rel, Buffer.concat([original, Buffer.alloc(4097 + r.int(8192), 'a')]), 'grown past a page')
      break
    case 'grown-mib':
      write(
        ctx,
        e.rel,
        Buffer.concat([original, Buffer.alloc(16 << 20, original.length ? original : 'x')]),
        '16 MiB',
      )
      break
    case 'sparse-2g':
      sparse(ctx, e.rel)
      break
    case 'fifo':
      mkfifo(ctx, e.rel)
      break
    case 'garbage':
      write(ctx, e.rel, r.bytes(1 + r.int(8192)), 'binary garbage')
      break
    case 'non-utf8':
      write(
        ctx,
        e.rel,
        Buffer.concat([Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28]), original]),
        'non-UTF-8',
      )
      break
    case 'ansi':
      write(ctx, e.rel, ANSI + original.toString('latin1'), 'ANSI escapes')
      break
    case 'control':
      write(ctx, e.rel, CONTROL + original.toString('latin1') + CONTROL, 'control characters')
      break
    case 'directory':
      rmrf(file)
      fs.mkdirSync(file)
      fs.writeFileSync(path.join(file, 'inner'), 'x')
      ctx.did.push(`replace ${e.rel} with a directory`)
      break
    case 'huge-number':
      write(
        ctx,
        e.rel,
        r.pick(['0xffffffffffffffffffffffff\n', '-1\n', '1e400\n', 'NaN\n', '99999999999999999999\n']),
      )
      break
  }
  const root = kind !== 'sparse-2g' && kind !== 'grown-mib' && r.chance(0.2) ? await tarRoot(ctx) : ctx.root
  return command(ctx, root, hintsFor(ctx, e.rel), kind === 'ansi' || kind === 'control' ? 0.3 : 0.75)
}

/** Values a reader builds a path or a pattern from; and a block device's slaves in a loop. */
async function specialFile(ctx: Ctx, kind: (typeof FILE_KINDS)[number]): Promise<Invocation | null> {
  const bdf = ctx.rand.pick(ctx.base.bdfs)
  const bind = (): Invocation => ({
    family: 'devices bind --dry-run',
    argv: [...bindArgs(ctx, bdf), '--root', ctx.root, '--json'],
    json: true,
    schema: 'change',
  })
  const release = ctx.base.release ?? 'unknown'
  switch (kind) {
    case 'osrelease-escape':
      // /lib/modules/RELEASE/modules.alias, with RELEASE climbing out to the decoy's.
      fs.mkdirSync(abs(ctx, 'lib/modules'), {recursive: true})
      write(ctx, 'proc/sys/kernel/osrelease', `../../../${path.relative(ctx.dir, ctx.decoy)}\n`)
      return bind()
    case 'alias-backtrack':
      write(
        ctx,
        `lib/modules/${release}/modules.alias`,
        `alias vfio_pci:${'*'.repeat(24)}Q hostile_vfio\nalias vfio_pci:v*d*sv*sd*bc*sc*i* other\n`,
      )
      return bind()
    case 'alias-bad-class':
      write(ctx, `lib/modules/${release}/modules.alias`, 'alias vfio_pci:v*[z-a]* hostile_vfio\n')
      return bind()
    case 'slave-loop': {
      // 20 slaves, each the disk itself: 20^depth walks for a reader that does not remember.
      write(ctx, 'proc/self/mountinfo', '22 1 8:0 / / rw,relatime - ext4 /dev/sda rw\n')
      link(ctx, 'sys/dev/block/8:0', '../../block/sda')
      fs.mkdirSync(abs(ctx, 'sys/block/sda/slaves'), {recursive: true})
      for (let i = 0; i < 20; i++) fs.symlinkSync('../../sda', abs(ctx, `sys/block/sda/slaves/s${i}`))
      ctx.did.push('sys/block/sda/slaves/s0..s19 -> ../../sda')
      return bind()
    }
    default:
      return null
  }
}

// ---- names: group, device and unit names that are not what their kind allows ----

const BAD_UTF8 = Buffer.from([0x64, 0x6d, 0x61, 0xff, 0xfe, 0x72, 0x30])
const JUNK_NAMES: (string | Buffer)[] = [
  'not-a-bdf',
  '0000:00:03.0.bak',
  '0000:0g:03.0',
  '00:03.0',
  '$(touch PWNED)',
  '-rf',
  '--json',
  '\x1b[31m0000:00:1f.7\x1b[0m',
  'ab\ncd',
  'x'.repeat(250),
  BAD_UTF8,
]
const GROUP_NAMES = ['x', '-1', '4294967296', '1e3', ' 7', '+7', '0x7', '\x1b[2J9']

const NAME_KINDS = [
  'group-leading-zero',
  'group-renamed',
  'iommu-group-slash',
  'iommu-group-not-a-number',
  'pci-junk-name',
  'group-member-junk',
  'unit-bad-utf8',
  'unit-renamed',
  'unit-member-junk',
  'driver-junk',
] as const

function junkName(ctx: Ctx): string | Buffer {
  return ctx.rand.pick(JUNK_NAMES)
}

function at(ctx: Ctx, dirRel: string, name: string | Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(abs(ctx, dirRel) + '/'),
    Buffer.isBuffer(name) ? name : Buffer.from(name),
  ])
}

export async function names(ctx: Ctx): Promise<Invocation> {
  const r = ctx.rand
  const b = ctx.base
  const kind = NAME_KINDS[r.int(NAME_KINDS.length)]!
  const bdf = r.pick(b.bdfs)
  const group = b.groupOf.get(bdf) ?? (b.groups.length ? r.pick(b.groups) : '0')
  const unit = b.units.length ? r.pick(b.units) : 'dmar0'
  const G = 'sys/kernel/iommu_groups'
  let hints: Hints = {bdf, group}
  let expect: Invocation['expect']
  const hasGroup = fs.existsSync(abs(ctx, `${G}/${group}`))
  switch (kind) {
    case 'group-leading-zero':
      if (hasGroup) execFileSync('cp', ['-a', abs(ctx, `${G}/${group}`), abs(ctx, `${G}/00${group}`)])
      ctx.did.push(`cp -a ${G}/${group} ${G}/00${group}`)
      expect = (o) => {
        if (o.status !== 0 || !Array.isArray(o.json)) return null
        // `groups` lists each group once; any other family (devices...) lists each device once.
        const records = o.json as {id?: unknown; bdf?: unknown; name?: unknown}[]
        const key = (['id', 'bdf', 'name'] as const).find((k) => records.every((rec) => k in rec))
        if (!key) return null
        const ids = records.map((rec) => rec[key])
        return new Set(ids).size === ids.length ? null : `a ${key} is listed twice: ${JSON.stringify(ids)}`
      }
      hints = {group: r.pick([group, `00${group}`])}
      break
    case 'group-renamed': {
      const name = r.pick(GROUP_NAMES)
      if (hasGroup) fs.renameSync(abs(ctx, `${G}/${group}`), abs(ctx, `${G}/${name}`))
      link(ctx, `sys/bus/pci/devices/${bdf}/iommu_group`, `../../../kernel/iommu_groups/${name}`)
      ctx.did.push(`mv ${G}/${group} ${JSON.stringify(name)}`)
      hints = {bdf, group: r.pick([group, name])}
      break
    }
    case 'iommu-group-slash':
      link(ctx, `${deviceDir(ctx, bdf)}/iommu_group`, '/')
      expect = (o) =>
        o.status === 0 && (o.json as {group?: unknown})?.group === 0
          ? `iommu_group -> / reads as group 0`
          : null
      hints = {bdf}
      break
    case 'iommu-group-not-a-number':
      link(ctx, `${deviceDir(ctx, bdf)}/iommu_group`, '../../../kernel/iommu_groups/x')
      fs.mkdirSync(abs(ctx, `${G}/x/devices`), {recursive: true})
      hints = {bdf}
      break
    case 'pci-junk-name': {
      const name = junkName(ctx)
      const target = fs.readlinkSync(abs(ctx, `sys/bus/pci/devices/${bdf}`))
      if (r.chance(0.5)) fs.rmSync(abs(ctx, `sys/bus/pci/devices/${bdf}`))
      fs.symlinkSync(target, at(ctx, 'sys/bus/pci/devices', name))
      ctx.did.push(`ln -s ${target} sys/bus/pci/devices/${JSON.stringify(String(name))}`)
      hints = {bdf: Buffer.isBuffer(name) ? name.toString() : name}
      break
    }
    case 'group-member-junk': {
      const name = junkName(ctx)
      fs.mkdirSync(abs(ctx, `${G}/${group}/devices`), {recursive: true})
      fs.symlinkSync(`../../../../devices/pci0000:00/${bdf}`, at(ctx, `${G}/${group}/devices`, name))
      ctx.did.push(`ln -s ... ${G}/${group}/devices/${JSON.stringify(String(name))}`)
      hints = {group}
      break
    }
    case 'unit-bad-utf8': {
      const target = b.units.length
        ? fs.readlinkSync(abs(ctx, `sys/class/iommu/${unit}`))
        : '../../devices/virtual/iommu/x'
      fs.mkdirSync(abs(ctx, 'sys/class/iommu'), {recursive: true})
      fs.symlinkSync(target, at(ctx, 'sys/class/iommu', BAD_UTF8))
      ctx.did.push('ln -s a unit under a non-UTF-8 name in sys/class/iommu')
      hints = {unit: r.chance(0.5) ? unit : BAD_UTF8.toString()}
      break
    }
    case 'unit-renamed': {
      const name = r.pick([BAD_UTF8, '\x1b[31mdmar9', 'x'.repeat(250), '-h'])
      if (b.units.length) {
        fs.renameSync(abs(ctx, `sys/class/iommu/${unit}`), at(ctx, 'sys/class/iommu', name))
        ctx.did.push(`mv sys/class/iommu/${unit} ${JSON.stringify(String(name))}`)
      }
      hints = {unit: r.chance(0.5) ? unit : String(name)}
      break
    }
    case 'unit-member-junk': {
      const dir = b.units.length ? fs.realpathSync(abs(ctx, `sys/class/iommu/${unit}`)) : abs(ctx, 'sys')
      fs.mkdirSync(path.join(dir, 'devices'), {recursive: true})
      const name = junkName(ctx)
      fs.symlinkSync(
        `../../../../pci0000:00/${bdf}`,
        Buffer.concat([Buffer.from(dir + '/devices/'), Buffer.from(name)]),
      )
      ctx.did.push(`ln -s ... ${path.relative(ctx.root, dir)}/devices/${JSON.stringify(String(name))}`)
      hints = {unit}
      break
    }
    case 'driver-junk': {
      const drv = `${deviceDir(ctx, bdf)}/driver`
      if (fs.existsSync(abs(ctx, drv))) {
        const real = fs.realpathSync(abs(ctx, drv))
        const name = r.pick(['\x1b[31mevil\x1b[0m', 'x'.repeat(200), 'PWNED driver'])
        fs.renameSync(real, path.join(path.dirname(real), name))
        link(ctx, drv, `../../../bus/pci/drivers/${name}`)
      }
      hints = {bdf}
      break
    }
  }
  const root = r.chance(0.2) ? await tarRoot(ctx) : ctx.root
  return {...command(ctx, root, hints, 0.6), ...(expect ? {expect} : {})}
}

/** The real directory of a PCI device (sys/bus/pci/devices/BDF is a link to it). */
function deviceDir(ctx: Ctx, bdf: string): string {
  return path.relative(ctx.root, fs.realpathSync(abs(ctx, `sys/bus/pci/devices/${bdf}`)))
}

// ---- the manifest: iommuctl-snapshot.json with the wrong shape, size or type ----

const MANIFEST = 'iommuctl-snapshot.json'
const MANIFEST_KINDS = [
  'format-only',
  'wrong-types',
  'bad-dev-nodes',
  'not-an-object',
  'not-json',
  'empty',
  'huge',
  'sparse-2g',
  'fifo',
  'symlink-decoy',
  'symlink-zero',
  'directory',
  'ansi-kernel',
  'kernel-escape',
] as const

/** Valid JSON, 200 MB: past any sane limit, and past the child's heap when parsed whole. */
function hugeManifest(ctx: Ctx, real: Record<string, unknown>): void {
  const [head, tail] = JSON.stringify({...real, unreadable: []}).split('"unreadable":[]')
  const fd = fs.openSync(abs(ctx, MANIFEST), 'w')
  fs.writeSync(fd, `${head}"unreadable":[`)
  const chunk = Buffer.from('0,'.repeat(1 << 19))
  for (let i = 0; i < 200; i++) fs.writeSync(fd, chunk)
  fs.writeSync(fd, `0]${tail}`)
  fs.closeSync(fd)
  ctx.did.push(`write ${MANIFEST} (valid JSON, 200 MB)`)
}

export async function manifest(ctx: Ctx): Promise<Invocation> {
  const r = ctx.rand
  const kind = MANIFEST_KINDS[r.int(MANIFEST_KINDS.length)]!
  const real = JSON.parse(fs.readFileSync(abs(ctx, MANIFEST), 'utf8')) as Record<string, unknown>
  const json = (v: unknown) => write(ctx, MANIFEST, JSON.stringify(v), kind)
  switch (kind) {
    case 'format-only':
      json({format: 1})
      break
    case 'wrong-types':
      json({
        ...real,
        [r.pick(['tool', 'capturedAt', 'kernel', 'privileged', 'devNodes', 'unreadable'])]: r.pick([
          7,
          'yes',
          {a: 1},
          [1, 2],
          null,
          true,
        ]),
      })
      break
    case 'bad-dev-nodes':
      json({
        ...real,
        devNodes: [
          r.pick([
            null,
            5,
            'x',
            {path: 5},
            {path: '../../x', type: 'char', mode: 'abc', major: -1, minor: 1.5},
          ]),
        ],
        unreadable: r.pick([{a: 1}, [null], [{path: 1, reason: {}}]]),
      })
      break
    case 'not-an-object':
      write(ctx, MANIFEST, r.pick(['[]', 'null', '1', '"format"', 'true']))
      break
    case 'not-json':
      write(ctx, MANIFEST, r.pick(['{"format":1', '\xff\xfe{}', ANSI, '{"format":1,}']))
      break
    case 'empty':
      write(ctx, MANIFEST, '')
      break
    case 'huge':
      hugeManifest(ctx, real)
      break
    case 'sparse-2g':
      sparse(ctx, MANIFEST, 2 ** 31 - 4096)
      break
    case 'fifo':
      mkfifo(ctx, MANIFEST)
      break
    case 'symlink-decoy':
      link(ctx, MANIFEST, ctx.secret)
      break
    case 'symlink-zero':
      link(ctx, MANIFEST, '/dev/zero')
      break
    case 'directory':
      rmrf(abs(ctx, MANIFEST))
      fs.mkdirSync(abs(ctx, MANIFEST))
      ctx.did.push('replace the manifest with a directory')
      break
    case 'ansi-kernel':
      json({...real, kernel: ANSI, tool: CONTROL})
      break
    case 'kernel-escape':
      // Without /proc/sys/kernel/osrelease the manifest's kernel names /lib/modules/KERNEL.
      rmrf(abs(ctx, 'proc/sys/kernel/osrelease'))
      fs.mkdirSync(abs(ctx, 'lib/modules'), {recursive: true})
      json({...real, kernel: `../../../${path.relative(ctx.dir, ctx.decoy)}`})
      break
  }
  const tar = kind !== 'huge' && kind !== 'sparse-2g' && r.chance(0.3)
  const root = tar ? await tarRoot(ctx) : ctx.root
  if (kind === 'kernel-escape') {
    const bdf = r.pick(ctx.base.bdfs)
    return {
      family: 'devices bind --dry-run',
      argv: [...bindArgs(ctx, bdf), '--root', root, '--json'],
      json: true,
      schema: 'change',
    }
  }
  return command(ctx, root, {}, kind === 'ansi-kernel' ? 0.3 : 0.75)
}

// ---- tarballs: every entry type, hostile names, many entries, a bomb ----

const TAR_KINDS = [
  'absolute-name',
  'dotdot-name',
  'through-symlink',
  'hardlink-absolute',
  'hardlink-dotdot',
  'char-device',
  'block-device',
  'fifo-entry',
  'symlink-absolute',
  'symlink-chain',
  'many-entries',
  'too-many-entries',
  'too-many-links',
  'deep-names',
  'bomb-one-file',
  'bomb-total',
  'pax-absolute',
  'gnu-longname-dotdot',
  'odd-types',
  'corrupt',
  'duplicate-names',
  'hostile-entry-names',
] as const

export async function tarballs(ctx: Ctx): Promise<Invocation> {
  const r = ctx.rand
  const kind = TAR_KINDS[r.int(TAR_KINDS.length)]!
  const bdf = r.pick(ctx.base.bdfs)
  const attr = `${deviceDir(ctx, bdf)}/${r.pick(['driver_override', 'config', 'modalias', 'vendor'])}`
  const decoyFromCase = path.relative(ctx.dir, ctx.secret)
  // The unpacked root is TMPDIR/iommuctl-root-*: two levels below the case directory.
  const upToCase = '../../'
  let extra: TarEntry[] = []
  let root: string | null = null
  const without = (rel: string) => rmrf(abs(ctx, rel))
  switch (kind) {
    case 'absolute-name':
      extra = [{name: path.join(ctx.decoy, 'written-by-tar'), type: 'file', data: Buffer.from('x')}]
      break
    case 'dotdot-name':
      extra = [
        {
          name: r.pick(['../escape', `sys/../../${upToCase}decoy/escape`, `${upToCase}${upToCase}escape`]),
          type: 'file',
          data: Buffer.from('x'),
        },
      ]
      break
    case 'through-symlink':
      extra = [
        {name: 'sys/evil', type: 'symlink', linkname: ctx.decoy},
        {name: 'sys/evil/written-through-link', type: 'file', data: Buffer.from('x')},
      ]
      break
    case 'hardlink-absolute':
      without(attr)
      extra = [{name: attr, type: 'hardlink', linkname: ctx.secret}]
      break
    case 'hardlink-dotdot':
      without(attr)
      extra = [{name: attr, type: 'hardlink', linkname: `${upToCase}${decoyFromCase}`}]
      break
    case 'char-device':
      without(attr)
      without('dev/iommu')
      extra = [
        {name: attr, type: 'char', devmajor: 1, devminor: 5},
        {name: 'dev/iommu', type: 'char', devmajor: 10, devminor: 257},
      ]
      break
    case 'block-device':
      without(attr)
      extra = [{name: attr, type: 'block', devmajor: 7, devminor: 0}]
      break
    case 'fifo-entry':
      without(attr)
      extra = [{name: attr, type: 'fifo'}]
      break
    case 'symlink-absolute':
      without(attr)
      extra = [{name: attr, type: 'symlink', linkname: ctx.secret}]
      break
    case 'symlink-chain': {
      const dir = path.posix.dirname(attr)
      without(attr)
      extra = [
        {name: `${dir}/top`, type: 'symlink', linkname: '../'.repeat(depth(dir)).replace(/\/$/, '')},
        {name: attr, type: 'symlink', linkname: `top/${upToCase}${decoyFromCase}`},
      ]
      break
    }
    case 'many-entries':
      // Within the limits and unpacked: 5,000 empty files (6 times the largest fixture) prove that
      // a count past any fixture's is read and removed whole. 200,000 did too, but their creates
      // took 55-85 s on 2 loaded cores, past the per-case limit (20,000 took 5 s of CPU, 25-40 s
      // at load 12); that memory does not grow with the count is
      // test/fixture/snapshot-hostile.test.ts's 50,000 in a 48 MiB heap.
      root = await shared(ctx, 'many-entries.tar.gz', () =>
        Array.from({length: 5_000}, (_, i) => ({name: `sys/kernel/x/${i}`, type: 'file' as const})),
      )
      break
    case 'too-many-entries':
      // Past the limits: refused by the checking pass, before anything is written.
      root = await shared(ctx, 'too-many-entries.tar.gz', () =>
        Array.from({length: MAX_ENTRIES + 1}, (_, i) => ({name: `sys/kernel/x/${i}`, type: 'file' as const})),
      )
      return refusedRoot(ctx, root, `past the limit of ${MAX_ENTRIES} entries`)
    case 'too-many-links':
      root = await shared(ctx, 'too-many-links.tar.gz', () => [
        {name: 'sys/kernel/', type: 'dir'},
        ...Array.from({length: MAX_LINKS + 1}, (_, i) => ({
          name: `sys/kernel/l${i}`,
          type: 'symlink' as const,
          linkname: '.',
        })),
      ])
      return refusedRoot(ctx, root, `past the limit of ${MAX_LINKS} symbolic links`)
    case 'deep-names':
      // 10,000 names of 1 KiB in 490 parts below a link, then a FIFO: the checking pass must get
      // to the FIFO. It looked each name's every prefix up anew, some 2 ms of CPU a name.
      root = await shared(ctx, 'deep-names.tar.gz', () => [
        {name: 'sys/kernel/', type: 'dir'},
        {name: 'sys/kernel/link', type: 'symlink', linkname: '.'},
        ...Array.from({length: 10_000}, (_, i) => ({
          name: `sys/kernel/${'d/'.repeat(490)}${i}`,
          type: 'file' as const,
        })),
        {name: 'sys/kernel/fifo', type: 'fifo'},
      ])
      return refusedRoot(ctx, root, 'sys/kernel/fifo')
    case 'bomb-one-file':
      // The bombs and the many entries need no fixture inside: sys/kernel makes them a root.
      root = await shared(ctx, 'bomb-one.tar.gz', () => [
        {name: 'sys/kernel/', type: 'dir'},
        {name: 'sys/kernel/bomb', type: 'file', zeros: 256 << 20},
      ])
      break
    case 'bomb-total':
      root = await shared(ctx, 'bomb-total.tar.gz', () => [
        {name: 'sys/kernel/', type: 'dir'},
        ...Array.from({length: 10}, (_, i) => ({
          name: `sys/kernel/bomb${i}`,
          type: 'file' as const,
          zeros: 30 << 20,
        })),
      ])
      break
    case 'pax-absolute':
      extra = [
        {name: 'PaxHeader', type: 'pax', data: paxRecord('path', path.join(ctx.decoy, 'written-by-pax'))},
        {name: 'harmless', type: 'file', data: Buffer.from('x')},
      ]
      break
    case 'gnu-longname-dotdot': {
      const name = Buffer.from(`${upToCase}${upToCase}escape-longname\0`)
      extra = [
        {name: '././@LongLink', type: 'gnu-longname', data: name},
        {name: 'short', type: 'file', data: Buffer.from('x')},
      ]
      break
    }
    case 'odd-types':
      extra = [
        {name: 'sys/contiguous', type: 'contiguous', data: Buffer.from('x')},
        {name: 'sys/sparse', type: 'gnu-sparse', data: Buffer.alloc(512)},
        {name: 'sys/unknown', type: 'unknown', data: Buffer.from('x')},
        {name: 'sys/global', type: 'pax-global', data: paxRecord('path', '/etc/x')},
        {name: 'sys/setuid', type: 'file', mode: 0o6777, data: Buffer.from('#!/bin/sh\n')},
      ]
      break
    case 'corrupt': {
      const file = path.join(ctx.dir, 'in', 'root.tar.gz')
      fs.mkdirSync(path.dirname(file), {recursive: true})
      const how = r.pick(['not-gzip', 'truncated', 'bad-checksum', 'empty'])
      if (how === 'bad-checksum') {
        await writeTarGz(
          file,
          [...treeEntries(ctx.root)].map((e, i) => (i === 3 ? {...e, badChecksum: true} : e)),
        )
      } else {
        await writeTarGz(file, treeEntries(ctx.root))
        const bytes = fs.readFileSync(file)
        fs.writeFileSync(
          file,
          how === 'not-gzip' ? r.bytes(4096) : how === 'empty' ? '' : bytes.subarray(0, bytes.length >> 1),
        )
      }
      ctx.did.push(`a ${how} .tar.gz`)
      root = file
      break
    }
    case 'duplicate-names':
      extra = [
        {name: 'sys/kernel/dup', type: 'file', data: Buffer.from('x')},
        {name: 'sys/kernel/dup/', type: 'dir'},
        {name: 'sys/kernel/iommu_groups', type: 'symlink', linkname: ctx.decoy},
        {name: 'sys/kernel/iommu_groups/9/type', type: 'file', data: Buffer.from('identity\n')},
      ]
      break
    case 'hostile-entry-names':
      extra = [
        {name: Buffer.concat([Buffer.from('sys/bus/pci/devices/'), BAD_UTF8]), type: 'dir'},
        {name: 'sys/bus/pci/devices/\x1b[31mred', type: 'symlink', linkname: ctx.secret},
        {name: 'sys/class/iommu/a\nb', type: 'dir'},
        {name: `sys/${'d/'.repeat(60)}deep`, type: 'file', data: Buffer.from('x')},
      ]
      break
  }
  if (!root) root = await tarRoot(ctx, extra)
  if (extra.length)
    ctx.did.push(`${kind}: ${extra.map((e) => `${e.type} ${JSON.stringify(String(e.name))}`).join(', ')}`)
  return command(ctx, root, {bdf})
}

/** A command on a root the checking pass refuses: exit 2, the limit named, nothing unpacked. */
function refusedRoot(ctx: Ctx, root: string, limit: string): Invocation {
  const inv = command(ctx, root, {})
  return {
    ...inv,
    expect: (o) =>
      o.status === 2 && (o.stdout + o.stderr).replace(/\s+/g, ' ').includes(limit)
        ? null
        : `expected exit 2 naming "${limit}", got exit ${o.status}`,
  }
}

/** A tarball made once per suite run (the big ones), shared read-only by the cases that use it. */
async function shared(ctx: Ctx, name: string, entries: () => Iterable<TarEntry>): Promise<string> {
  const file = path.join(ctx.shared, name)
  if (!building.has(file)) building.set(file, writeTarGz(file, entries()))
  await building.get(file)
  ctx.did.push(`the shared ${path.basename(file)}`)
  return file
}

const building = new Map<string, Promise<void>>()

// ---- journals: devices restore and bind against a journal mutated field by field ----

const JOURNAL_KINDS = [
  'valid',
  'key-dotdot',
  'key-to-decoy',
  'key-not-bdf',
  'group-dotdot',
  'group-type-pwned',
  'driver-path',
  'wrong-types',
  'format',
  'huge-field',
  'huge-file',
  'symlink-decoy',
  'symlink-zero',
  'fifo',
  'directory',
  'journal-dir-symlink',
  'ansi-driver',
  'stdin-bdf',
] as const

export async function journals(ctx: Ctx): Promise<Invocation> {
  const r = ctx.rand
  const kind = JOURNAL_KINDS[r.int(JOURNAL_KINDS.length)]!
  const [a, b] = [r.pick(ctx.base.bdfs), r.pick(ctx.base.bdfs)]
  const entry = (bdf: string) => {
    const drv = abs(ctx, `sys/bus/pci/devices/${bdf}/driver`)
    const driver = fs.existsSync(drv) ? path.basename(fs.readlinkSync(drv)) : null
    return {driver, driverOverride: null, by: 'bind', at: '2026-11-30T10:00:00.000Z'}
  }
  const valid = {format: 1, devices: {[a]: entry(a), [b]: entry(b)}, groups: {}}
  const file = path.join(ctx.journal, 'journal.json')
  const toDecoy = `../../../../../${path.relative(ctx.dir, ctx.decoy)}`
  let data: unknown = valid
  let invalid = true
  const field = (v: unknown) => ({
    ...valid,
    devices: {...valid.devices, [a]: {...entry(a), ...(v as object)}},
  })
  switch (kind) {
    case 'valid':
    case 'stdin-bdf':
      invalid = false
      break
    case 'key-dotdot':
      data = {...valid, devices: {'../../../../tmp/x': entry(a)}}
      break
    case 'key-to-decoy':
      data = {...valid, devices: {[toDecoy]: {driver: 'e1000e', driverOverride: null, by: 'bind', at: 'x'}}}
      break
    case 'key-not-bdf':
      data = {...valid, devices: {[r.pick(['not-a-bdf', '', '\x1b[2J', '0000:00:03.0/..'])]: entry(a)}}
      break
    case 'group-dotdot':
      data = {
        ...valid,
        groups: {
          [r.pick(['../../g', `../../../../${path.relative(ctx.dir, ctx.decoy)}`])]: {
            type: 'identity',
            by: 'set-type',
            at: 'x',
            pendingPid: 999_999_999,
          },
        },
      }
      break
    case 'group-type-pwned':
      data = {
        ...valid,
        groups: {
          [ctx.base.groups[0] ?? '0']: {type: 'PWNED', by: 'set-type', at: 'x', pendingPid: 999_999_999},
        },
      }
      break
    case 'driver-path':
      data = field({[r.pick(['driver', 'driverOverride'])]: r.pick(['../../../x', toDecoy, 'a b', '-rf'])})
      break
    case 'wrong-types':
      {
        const key = r.pick(['driver', 'driverOverride', 'by', 'at', 'pendingPid'])
        data = field({
          [key]: r.pick(key === 'pendingPid' ? [1.5, -1, 'x', {}, true] : [5, {}, [], true, 1.5]),
        })
        break
      }
      break
    case 'format':
      data = r.pick([
        {...valid, format: 2},
        {...valid, format: '1'},
        {...valid, devices: []},
        {...valid, groups: null},
        [],
        null,
        'x',
        {format: 1},
      ])
      break
    case 'huge-field':
      // Past any limit a journal of a few devices needs.
      data = field({by: 'x'.repeat(64 << 20)})
      break
  }
  fs.mkdirSync(ctx.journal, {recursive: true})
  const rel = path.relative(ctx.dir, file)
  switch (kind) {
    case 'huge-file':
      fs.writeFileSync(file, '')
      fs.truncateSync(file, 2 ** 31 - 4096)
      ctx.did.push(`truncate -s 2GiB-4K ${rel}`)
      break
    case 'symlink-decoy':
      fs.symlinkSync(ctx.secret, file)
      ctx.did.push(`ln -s decoy ${rel}`)
      break
    case 'symlink-zero':
      fs.symlinkSync('/dev/zero', file)
      ctx.did.push(`ln -s /dev/zero ${rel}`)
      break
    case 'fifo':
      execFileSync('mkfifo', [file])
      ctx.did.push(`mkfifo ${rel}`)
      break
    case 'directory':
      fs.mkdirSync(file)
      ctx.did.push(`mkdir ${rel}`)
      break
    case 'journal-dir-symlink':
      fs.rmSync(ctx.journal, {recursive: true})
      fs.symlinkSync(ctx.decoy, ctx.journal)
      ctx.did.push(`ln -s decoy ${path.relative(ctx.dir, ctx.journal)}`)
      break
    case 'ansi-driver':
      invalid = true
      fs.writeFileSync(file, JSON.stringify(field({driver: '\x1b[31mevil\x1b[0m', driverOverride: CONTROL})))
      ctx.did.push(`${rel}: ANSI escapes in a driver`)
      break
    default:
      fs.writeFileSync(file, typeof data === 'string' ? data : JSON.stringify(data))
      ctx.did.push(`${rel}: ${kind}: ${JSON.stringify(data).slice(0, 160)}`)
  }
  const mode = r.pick(['dry-json', 'dry-json', 'dry-json', 'dry-table', 'live-json', 'bind'] as const)
  const common = ['--root', ctx.root, '--journal-dir', ctx.journal]
  if (mode === 'bind') {
    return {
      family: 'devices bind --dry-run',
      argv: ['devices', 'bind', '--dry-run', a, ...common, '--json'],
      json: true,
      schema: 'change',
    }
  }
  const dry = mode !== 'live-json'
  const json = mode !== 'dry-table'
  const inv: Invocation = {
    family: dry ? 'devices restore --dry-run' : 'devices restore',
    argv: ['devices', 'restore', ...(dry ? ['--dry-run'] : []), ...common, ...(json ? ['--json'] : [])],
    json,
    schema: 'change',
    // A real restore may write the journal and sysfs attributes inside the root; nothing else.
    outputs: dry ? [] : [ctx.root, ctx.journal],
  }
  if (kind === 'stdin-bdf') {
    inv.stdin = {text: `${a}\n`}
    inv.expect = (o) => {
      const listed = (o.json as {devices?: {bdf: string}[]})?.devices?.map((d) => d.bdf)
      return dry && json && o.status === 0 && listed?.length !== Object.keys(valid.devices).length
        ? `a BDF on stdin changed what restore did: it listed ${JSON.stringify(listed)}`
        : dry && json && o.status !== 0
          ? `restore with a BDF on stdin failed: ${o.stdout.slice(0, 200)}`
          : null
    }
  } else if (invalid && dry && json) {
    inv.expect = (o) =>
      o.status === 0
        ? `an invalid journal was accepted`
        : !`${o.stdout}`.includes(ctx.journal)
          ? 'the refusal does not name the journal'
          : null
  }
  return inv
}

// ---- plans: apply PLAN and apply - with values past 64 bits, bad types, and hostile stdin ----

const BASE_PLAN = {version: 1, ioas: [{name: 'main'}], maps: [{name: 'm', ioas: 'main', size: '4K'}]}
const PLAN_KINDS = [
  'valid',
  'size-2^64',
  'size-past-2^64',
  'iova-overflow',
  'pasid-fraction',
  'memory-missing',
  'memory-fifo',
  'duplicate-keys',
  'huge-stdin',
  'dev-zero-stdin',
  'slow-pipe',
  'yaml-aliases',
] as const

export async function plans(ctx: Ctx): Promise<Invocation> {
  const r = ctx.rand
  const kind = PLAN_KINDS[r.int(PLAN_KINDS.length)]!
  const map = (m: object) => ({...BASE_PLAN, maps: [{...BASE_PLAN.maps[0], ...m}]})
  let text: string | Buffer = JSON.stringify(BASE_PLAN)
  let refused = true
  switch (kind) {
    case 'valid':
    case 'slow-pipe':
      refused = false
      break
    case 'size-2^64':
      text = JSON.stringify(
        map({size: r.pick(['18446744073709551616', '17179869184G', '18014398509481984K'])}),
      )
      break
    case 'size-past-2^64':
      text = JSON.stringify(
        map({
          size: r.pick(['18446744073709555712', '99999999999999999999999999999999K', '36893488147419103232']),
        }),
      )
      break
    case 'iova-overflow':
      text = JSON.stringify(
        // Every pair ends past 2^64: 0xffffffffffe00000 has 2 MiB above it, so 8K there fits (plans-62).
        map({iova: r.pick(['0xfffffffffffff000', '0xffffffffffe00000']), size: r.pick(['4M', '1G'])}),
      )
      break
    case 'pasid-fraction':
      text = JSON.stringify({
        ...BASE_PLAN,
        attach: [{device: '0000:7f:1f.7', to: 'main', pasid: r.pick([1.5, 0.5, 1048574.5])}],
      })
      break
    case 'memory-missing':
      text = JSON.stringify(
        map({memory: {file: path.join(ctx.dir, r.pick(['nonexistent', 'no/such/dir/file']))}}),
      )
      break
    case 'memory-fifo':
      text = JSON.stringify(map({memory: {file: path.join(ctx.decoy, 'fifo')}}))
      break
    case 'duplicate-keys':
      text = r.pick([
        '{"version":1,"ioas":[{"name":"main"}],"maps":[{"name":"m","ioas":"main","size":"4K","size":"18446744073709551616"}]}',
        '{"version":1,"version":1,"ioas":[{"name":"main"}]}',
        '{"version":1,"ioas":[{"name":"a"}],"ioas":[{"name":"main"}]}',
      ])
      break
    case 'huge-stdin':
      text = ' '.repeat(64 << 20) + JSON.stringify(BASE_PLAN)
      break
    case 'yaml-aliases':
      text = `version: 1\na: &a [x, x, x, x, x, x, x, x, x]\n${Array.from(
        {length: 12},
        (_, i) =>
          `${'b' + (i + 1)}: &${'b' + (i + 1)} [${Array(9)
            .fill(i ? '*b' + i : '*a')
            .join(', ')}]`,
      ).join('\n')}\nioas: [{name: main}]\n`
      break
  }
  const planFile = path.join(ctx.dir, 'plan.json')
  fs.writeFileSync(planFile, text)
  ctx.did.push(`plan ${kind}: ${String(text).slice(0, 200)}`)
  const json = r.chance(0.8)
  const tail = json ? ['--json'] : []
  let inv: Invocation
  if (kind === 'dev-zero-stdin') {
    inv = {family: 'apply -', argv: ['apply', '-', ...tail], json, stdin: {file: '/dev/zero'}}
  } else if (kind === 'huge-stdin' || kind === 'slow-pipe' || r.chance(0.4)) {
    inv = {
      family: 'apply -',
      argv: ['apply', '-', ...tail],
      json,
      stdin: kind === 'slow-pipe' ? {text, chunks: 3, delayMs: 300} : {file: planFile},
    }
  } else inv = {family: 'apply PLAN', argv: ['apply', planFile, ...tail], json}
  // No /dev/iommu here: a plan that passes validation fails opening it (exit 3).
  inv.expect = (o) =>
    refused && o.status !== 2
      ? `the plan was not refused as a usage error (exit ${o.status})`
      : !refused && o.status === 2
        ? `a valid plan was refused: ${(o.stdout + o.stderr).slice(0, 200)}`
        : null
  return inv
}

// ---- outputs: what snapshot -o and --dir replace ----

const OUTPUT_KINDS = [
  'force-over-directory',
  'force-dir-over-directory',
  'force-over-device',
  'force-over-symlink',
  'force-over-fifo',
  'force-cwd',
  'force-over-snapshot',
  'stdout-closed',
  'stdout',
] as const

export async function outputs(ctx: Ctx): Promise<Invocation> {
  const r = ctx.rand
  const kind = OUTPUT_KINDS[ctx.rand.int(OUTPUT_KINDS.length)]!
  const target = path.join(ctx.out, 'target')
  const tail = ['--root', ctx.root, '--json']
  const intact = (check: () => boolean, what: string) => (o: Outcome) =>
    !check() ? `--force destroyed ${what}` : o.status === 0 ? `--force replaced ${what}` : null
  const inv = (argv: string[], expect?: Invocation['expect'], outs: string[] = []): Invocation => ({
    family: 'snapshot --force',
    argv: [...argv, ...tail],
    json: true,
    ...(expect ? {expect} : {schema: 'snapshot'}),
    outputs: outs,
  })
  switch (kind) {
    case 'force-over-directory':
    case 'force-dir-over-directory':
      fs.mkdirSync(path.join(target, 'keep'), {recursive: true})
      fs.writeFileSync(path.join(target, 'keep/precious'), 'x')
      ctx.did.push('out/target/keep/precious: a directory that is not a snapshot')
      return inv(
        ['snapshot', kind === 'force-over-directory' ? '-o' : '--dir', target, '--force'],
        intact(() => fs.existsSync(path.join(target, 'keep/precious')), 'a directory that is not a snapshot'),
      )
    case 'force-over-device':
      execFileSync('mknod', [target, 'c', '1', '7'])
      ctx.did.push('mknod out/target c 1 7 (/dev/full)')
      return inv(
        ['snapshot', '-o', target, '--force'],
        intact(() => fs.lstatSync(target).isCharacterDevice(), 'a device node'),
      )
    case 'force-over-symlink':
      fs.symlinkSync(ctx.secret, target)
      ctx.did.push('out/target -> decoy')
      return inv(
        ['snapshot', '-o', target, '--force'],
        intact(() => fs.lstatSync(target).isSymbolicLink(), 'a symlink'),
      )
    case 'force-over-fifo':
      execFileSync('mkfifo', [target])
      ctx.did.push('mkfifo out/target')
      return inv(
        ['snapshot', '-o', target, '--force'],
        intact(() => fs.lstatSync(target).isFIFO(), 'a FIFO'),
      )
    case 'force-cwd':
      fs.writeFileSync(path.join(ctx.work, 'precious'), 'x')
      ctx.did.push('work/precious; run in work/')
      return inv(
        ['snapshot', '--dir', '.', '--force'],
        intact(() => fs.existsSync(path.join(ctx.work, 'precious')), 'the current directory'),
      )
    case 'force-over-snapshot': {
      const dir = r.chance(0.5)
      const out = path.join(ctx.out, dir ? 'snapdir' : 'snap.tar.gz')
      if (dir) execFileSync('cp', ['-a', ctx.base.dir, out])
      else fs.copyFileSync(fixture(ctx.base.name), out)
      ctx.did.push(`an earlier snapshot at ${path.relative(ctx.dir, out)}`)
      return {
        ...inv(
          ['snapshot', dir ? '--dir' : '-o', out, '--force'],
          (o) => (o.status === 0 ? null : `replacing a snapshot failed: ${o.stdout.slice(0, 200)}`),
          [out],
        ),
        snapshot: out,
      }
    }
    case 'stdout-closed':
      ctx.did.push('stdout closed')
      return {
        family: 'snapshot -o -',
        argv: ['snapshot', '-o', '-', '--root', ctx.root],
        json: false,
        closeStdout: true,
        binaryStdout: true,
        expect: (o) => (o.status === 0 ? 'snapshot -o - with stdout closed exited 0' : null),
      }
    case 'stdout':
      return {
        family: 'snapshot -o -',
        argv: ['snapshot', '-o', '-', '--root', ctx.root],
        json: false,
        binaryStdout: true,
      }
  }
}

export const GENERATORS: Record<Area, (ctx: Ctx) => Promise<Invocation>> = {
  links,
  files,
  names,
  manifest,
  tarballs,
  journals,
  plans,
  outputs,
}
