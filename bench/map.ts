/**
 * IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP through the tool's native layer against C, in one VM boot.
 *
 * Builds bench/map.c against the test kernel's UAPI headers, boots one guest (test/vm/harness.ts)
 * and runs there, in this order: the C program, bench/map-guest.ts (the native layer, under
 * `node --import tsx`), the C program again. Each maps a 1 GiB buffer (MAP_POPULATE, so no page
 * fault is timed) into an IOAS chunk by chunk at fixed IOVAs, then unmaps it chunk by chunk,
 * timing the two loops separately, REPS times per chunk size. Prints medians, the ratio to C,
 * ns per ioctl, the difference per ioctl (what the FFI path costs) and what that is made of: the
 * parts of one call, timed alone in the guest and, for scale, natively on this host.
 * Nothing is asserted: it prints.
 *
 * Usage: node --import tsx bench/map.ts [--topology none|intel] [--plan CHUNK:REPS[:BYTES],...]
 *                                       [--calls N] [--json]
 *   --topology none   (default) /dev/iommu and no IOMMU: the IOAS has no domain, so the kernel
 *                     only records each range and pins nothing (VmPin in the output says so).
 *                     What is left is the cost of the call path, C's and ours.
 *   --topology intel  VT-d: 0000:00:03.0 goes to vfio-pci and is attached to the IOAS, so every
 *                     map pins its pages and writes the IOMMU page table, and every unmap also
 *                     flushes the IOTLB, which QEMU traps (caching-mode=on). Slow under TCG.
 *   --plan            passes per chunk size; BYTES (default 1 GiB) is how much of the buffer a
 *                     pass covers. Default: PLAN below.
 *   --calls N         iterations of each part's loop (default 2000)
 *   --json            print the raw results as JSON too
 */
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {ensureKernel, explain, REPO, runInGuest, vmUnavailable} from '../test/vm/harness.js'
import {TopologyName} from '../test/vm/topologies.js'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

// Under TCG one Iommufd.map or unmap costs about 1 ms (C: 5 to 15 us), so a full 4 KiB pass,
// 262144 maps and 262144 unmaps, would take about 9 minutes through the native layer: at 4 KiB a
// pass covers the first 16 MiB of the buffer (4096 maps), in C too, and C also makes one full
// 1 GiB pass to show what that changes. 64 KiB covers all of it once (16384 maps, about 35 s);
// 2 MiB and 1 GiB, cheap, run 9 times. The same plan for both topologies.
const PLAN = [`${4 * KiB}:3:${16 * MiB}`, `${64 * KiB}:1`, `${2 * MiB}:9`, `${GiB}:9`]
const TOPOLOGIES: TopologyName[] = ['none', 'intel']

const argv = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = argv.indexOf(name)
  if (i < 0) return undefined
  const [, value] = argv.splice(i, 2)
  return value
}
const flag = (name: string): boolean => {
  const i = argv.indexOf(name)
  if (i < 0) return false
  argv.splice(i, 1)
  return true
}
const topology = (option('--topology') ?? 'none') as TopologyName
const planOption = option('--plan')
const plan = planOption ? planOption.split(',').filter(Boolean) : PLAN
const calls = Number(option('--calls') ?? 2000)
const printJson = flag('--json')
if (!TOPOLOGIES.includes(topology) || argv.length || !plan.length || !(calls >= 1)) {
  console.error(
    'usage: node --import tsx bench/map.ts [--topology none|intel] [--plan CHUNK:REPS[:BYTES],...] [--calls N] [--json]',
  )
  process.exit(2)
}
const missing = vmUnavailable()
if (missing) {
  console.error(`bench/map needs the VM tier: ${missing}`)
  process.exit(2)
}

// --- what the two sides print ---

interface Times {
  mapNs: number[]
  unmapNs: number[]
  /** The tool's passes only: GC pause time inside each pass. */
  gcNs: number[]
}
interface Chunk {
  chunk: number
  bytes: number
  ioctls: number
  vmPinKiB: number
  vmLckKiB: number
}
type CChunk = Chunk & Pick<Times, 'mapNs' | 'unmapNs'>
interface CResult {
  populateNs: number
  chunks: CChunk[]
  trivial: {calls: number; enottyNs: number; getpidNs: number}
}
type ToolChunk = Chunk & {tool: Times; raw: Times}
type Part =
  | 'getpidNoErrno'
  | 'getpidErrno'
  | 'ioctlEnotty'
  | 'encodeMap'
  | 'encodeUnmap'
  | 'decodeMap'
  | 'nativeMemory'
  | 'withMemory'
  | 'wholeCall'
  | 'writeFields'
interface ToolResult {
  populateNs: number
  node: string
  chunks: ToolChunk[]
  components: Record<Part, number[]>
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const parse = <T>(text: string): T => JSON.parse(text) as T

// --- build; the parts natively on this host, for scale ---

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-bench-map-'))
process.once('exit', () => fs.rmSync(share, {recursive: true, force: true}))
const include = path.join(ensureKernel(), 'include')
const cBin = path.join(share, 'map')
execFileSync('gcc', ['-O2', '-Wall', '-Werror', `-I${include}`, '-o', cBin, path.join(REPO, 'bench/map.c')])

console.log(
  `bench/map: topology ${topology}, passes ${plan.join(' ')} (CHUNK:REPS[:BYTES]), ${calls} calls per part`,
)
const hostC = parse<CResult>(
  execFileSync(cBin, ['--trivial-only', '--calls', String(calls)], {encoding: 'utf8'}),
)
const hostTool = parse<ToolResult>(
  execFileSync(
    process.execPath,
    ['--import', 'tsx', 'bench/map-guest.ts', '--parts-only', '--calls', String(calls)],
    {
      cwd: REPO,
      encoding: 'utf8',
    },
  ),
)

// --- one boot: C, the native layer, C again ---

const E1000E = '0000:00:03.0'
// A sliced 4 KiB pass in the plan: C also makes one full pass, to show what slicing changes.
const cExtra = plan.some((p) => p.startsWith(`${4 * KiB}:`) && p.split(':')[2] !== undefined)
  ? [`${4 * KiB}:1`]
  : []
const toolArgs = `--calls ${calls} ${plan.join(' ')}`
const cArgs = `--calls ${calls} ${[...plan, ...cExtra].join(' ')}`
const attach =
  topology === 'intel'
    ? `S=/sys/bus/pci/devices/${E1000E}
echo vfio-pci > $S/driver_override && echo ${E1000E} > $S/driver/unbind && echo ${E1000E} > /sys/bus/pci/drivers_probe
DEV="--device /dev/vfio/devices/$(ls $S/vfio-dev)"
`
    : 'DEV=\n'
// ulimit -l: with a device attached, iommufd charges the pinned pages to RLIMIT_MEMLOCK.
const command = `set -e
ulimit -l unlimited
${attach}mark() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >> /run/share/marks; }
mark start
/run/share/map $DEV ${cArgs} > /run/share/c1.json
mark C
node --import tsx bench/map-guest.ts $DEV ${toolArgs} > /run/share/tool.json
mark tool
/run/share/map $DEV ${cArgs} > /run/share/c2.json
mark C-again`

console.log('booting one guest (TCG, 1 CPU): C, then the native layer, then C again, in the same boot...')
const result = await runInGuest(topology, {command, timeoutMs: 7.5 * 60_000, shareDir: share})
const read = <T>(name: string): T | null => {
  try {
    return parse<T>(fs.readFileSync(path.join(share, name), 'utf8'))
  } catch {
    return null
  }
}
const c1 = read<CResult>('c1.json')
const tool = read<ToolResult>('tool.json')
const c2 = read<CResult>('c2.json')
if (result.status !== 0 || !c1 || !tool || !c2) {
  console.error(explain(result))
  console.error(`--- stdout\n${result.stdout.slice(-2000)}`)
  process.exit(1)
}
const marks = fs
  .readFileSync(path.join(share, 'marks'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split(' '))
const stages = marks
  .slice(1)
  .map(([name, t], i) => `${name} ${(Number(t) - Number(marks[i]![1])).toFixed(0)} s`)
  .join(', ')
console.log(`guest: ${result.seconds.toFixed(0)} s from boot to power-off (${stages}); node ${tool.node}`)

// --- formatting ---

const size = (b: number) => (b >= GiB ? `${b / GiB} GiB` : b >= MiB ? `${b / MiB} MiB` : `${b / KiB} KiB`)
const ms = (ns: number) => (ns / 1e6).toFixed(ns >= 1e8 ? 0 : ns >= 1e7 ? 1 : ns >= 1e5 ? 2 : 3)
const ns = (v: number) =>
  Math.abs(v) >= 1e6
    ? (v / 1e6).toFixed(2) + 'M'
    : Math.abs(v) >= 1e4
      ? (v / 1e3).toFixed(1) + 'k'
      : v.toFixed(0)
const x = (r: number) => (r >= 100 ? r.toFixed(0) : r.toFixed(2)) + 'x'
const row = (cells: (string | number)[], widths: number[]) =>
  cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join(' ')

// --- the passes ---

interface Pair {
  map: number
  unmap: number
}
interface Row extends Chunk {
  reps: number
  c: Pair
  tool: Pair
  raw: Pair
  toolGc: number[]
  cDrift: number
}
const key = (c: Chunk) => `${c.chunk}:${c.bytes}`
const med = (t: Pick<Times, 'mapNs' | 'unmapNs'>): Pair => ({map: median(t.mapNs), unmap: median(t.unmapNs)})
const total = (p: Pair) => p.map + p.unmap
const rows: Row[] = tool.chunks.map((t) => {
  const a = c1.chunks.find((c) => key(c) === key(t))!
  const b = c2.chunks.find((c) => key(c) === key(t))!
  return {
    ...t,
    reps: t.tool.mapNs.length,
    c: med({mapNs: [...a.mapNs, ...b.mapNs], unmapNs: [...a.unmapNs, ...b.unmapNs]}),
    tool: med(t.tool),
    raw: med(t.raw),
    toolGc: t.tool.gcNs,
    cDrift: total(med(b)) / total(med(a)),
  }
})
const perIoctl = (r: Row, p: Pair) => total(p) / (2 * r.ioctls)

console.log(
  '\nmap + unmap, median pass (C: both C runs pooled); per ioctl = pass / (2 x ioctls).' +
    '\ntool = Iommufd.map/unmap; raw = one reused native struct and libc.ioctlPtr, the floor under it.' +
    '\nFFI cost = tool - C per ioctl; floor = raw - C. C drift = second C run / first.',
)
const w1 = [7, 7, 7, 5, 8, 9, 7, 8, 6, 7, 8, 8, 8, 8, 6]
console.log(
  row(
    [
      'chunk',
      'pass',
      'ioctls',
      'reps',
      'C ms',
      'tool ms',
      'ratio',
      'raw ms',
      'ratio',
      'C ns',
      'tool ns',
      'raw ns',
      'FFI cost',
      'floor',
      'drift',
    ],
    w1,
  ),
)
for (const r of rows) {
  console.log(
    row(
      [
        size(r.chunk),
        size(r.bytes),
        r.ioctls,
        r.reps,
        ms(total(r.c)),
        ms(total(r.tool)),
        x(total(r.tool) / total(r.c)),
        ms(total(r.raw)),
        x(total(r.raw) / total(r.c)),
        ns(perIoctl(r, r.c)),
        ns(perIoctl(r, r.tool)),
        ns(perIoctl(r, r.raw)),
        ns(perIoctl(r, r.tool) - perIoctl(r, r.c)),
        ns(perIoctl(r, r.raw) - perIoctl(r, r.c)),
        x(r.cDrift),
      ],
      w1,
    ),
  )
}
for (const r of rows.filter((r) => r.bytes < GiB)) {
  const full = [c1, c2]
    .map((c) => c.chunks.find((cc) => cc.chunk === r.chunk && cc.bytes === GiB))
    .filter(Boolean)
  const fullPer = full.length
    ? median(full.map((f) => (median(f!.mapNs) + median(f!.unmapNs)) / (2 * f!.ioctls)))
    : undefined
  console.log(
    `${size(r.chunk)} covers ${size(r.bytes)} of the 1 GiB per pass (${r.ioctls} of ${GiB / r.chunk} chunks): ` +
      `a full pass through the tool would take about ${((perIoctl(r, r.tool) * 2 * (GiB / r.chunk)) / 1e9).toFixed(0)} s.` +
      (fullPer === undefined
        ? ''
        : ` C over all of it: ${ns(fullPer)} ns per ioctl (over ${size(r.bytes)}: ${ns(perIoctl(r, r.c))}).`),
  )
}

console.log('\nmap and unmap separately, ns per ioctl')
const w2 = [7, 8, 9, 9, 7, 8, 9, 9, 7]
console.log(
  row(['chunk', 'C map', 'tool map', 'raw map', 'ratio', 'C unmap', 'tool unm', 'raw unm', 'ratio'], w2),
)
for (const r of rows) {
  const p = (v: number) => ns(v / r.ioctls)
  console.log(
    row(
      [
        size(r.chunk),
        p(r.c.map),
        p(r.tool.map),
        p(r.raw.map),
        x(r.tool.map / r.c.map),
        p(r.c.unmap),
        p(r.tool.unmap),
        p(r.raw.unmap),
        x(r.tool.unmap / r.c.unmap),
      ],
      w2,
    ),
  )
}
const pins = rows.map((r) => {
  const c = c1.chunks.find((cc) => key(cc) === key(r))!
  return `${size(r.chunk)}: C ${c.vmPinKiB}, tool ${r.vmPinKiB}`
})
console.log(`\nVmPin (KiB) with the pass mapped: ${pins.join('; ')}`)
console.log(
  `1 GiB mmap with MAP_POPULATE (before the loops, untimed in them): C ${ms(c1.populateNs)} ms, tool ${ms(tool.populateNs)} ms`,
)

// --- what one call is made of ---

const part = (r: ToolResult, p: Part) => median(r.components[p])
const cPer = (cs: CResult[], f: 'enottyNs' | 'getpidNs') =>
  median(cs.map((c) => c.trivial[f] / c.trivial.calls))
interface Parts {
  cEnotty: number
  cGetpid: number
  getpidNoErrno: number
  getpidErrno: number
  ioctlEnotty: number
  ffiCall: number
  errno: number
  encodeMap: number
  encodeUnmap: number
  encode: number
  decode: number
  nativeMemory: number
  withMemory: number
  wholeCall: number
  writeFields: number
  layer: number
  sum: number
}
function parts(cs: CResult[], t: ToolResult): Parts {
  const p = {
    cEnotty: cPer(cs, 'enottyNs'),
    cGetpid: cPer(cs, 'getpidNs'),
    getpidNoErrno: part(t, 'getpidNoErrno'),
    getpidErrno: part(t, 'getpidErrno'),
    ioctlEnotty: part(t, 'ioctlEnotty'),
    encodeMap: part(t, 'encodeMap'),
    encodeUnmap: part(t, 'encodeUnmap'),
    decode: part(t, 'decodeMap'),
    nativeMemory: part(t, 'nativeMemory'),
    withMemory: part(t, 'withMemory'),
    wholeCall: part(t, 'wholeCall') - median(cs.map((c) => c.trivial.enottyNs / c.trivial.calls)),
    writeFields: part(t, 'writeFields'),
  }
  const ffiCall = p.ioctlEnotty - p.cEnotty
  const encode = (p.encodeMap + p.encodeUnmap) / 2
  const layer = encode + p.withMemory + p.decode
  return {...p, ffiCall, errno: p.getpidErrno - p.getpidNoErrno, encode, layer, sum: layer + ffiCall}
}
const g = parts([c1, c2], tool)
const h = parts([hostC], hostTool)
console.log(`\nthe parts of one call, each timed alone: ns per call, median of 6 x ${calls} calls`)
const w3 = [62, 11, 11, 9]
console.log(row(['', 'guest (TCG)', 'host', 'guest/host'], w3))
const line = (label: string, f: keyof Parts) =>
  console.log(row([label, ns(g[f]), ns(h[f]), x(g[f] / h[f])], w3))
line('C: ioctl(/dev/null) -> ENOTTY: a syscall that does nothing', 'cEnotty')
line('C: syscall(SYS_getpid)', 'cGetpid')
line('ffi-rs load(getpid), errno: false', 'getpidNoErrno')
line('ffi-rs load(getpid), errno: true', 'getpidErrno')
line('libc.ioctlPtr(/dev/null) -> ENOTTY (3 arguments, errno)', 'ioctlEnotty')
line('A. one ffi-rs call over the syscall: ioctlPtr - C ENOTTY', 'ffiCall')
line('   of it, errno capture: getpid errno true - false', 'errno')
line('B. struct encode (Buffer.alloc, a Map of members per call), avg', 'encode')
line('     iommu_ioas_map.encode', 'encodeMap')
line('     iommu_ioas_unmap.encode', 'encodeUnmap')
line('C. withMemory: calloc + memset (addressOf) + view + copy + free', 'withMemory')
line('     new NativeMemory(40).free() alone: 3 ffi-rs calls + a view', 'nativeMemory')
line('D. struct decode (iommu_ioas_map: 7 members, 3 of them bigint)', 'decode')
line('B + C + D: the layer around the call (tool - raw, predicted)', 'layer')
line('A + B + C + D: the FFI cost of one Iommufd.map (predicted)', 'sum')
line('E. the whole ioctlStruct path on /dev/null in one loop, - C ENOTTY', 'wholeCall')
line('raw loop per call besides the ffi-rs call: 2 field writes', 'writeFields')

console.log(
  '\nper ioctl, measured in the passes (guest), against the parts:' +
    '\n  floor = raw - C: the ffi-rs call (parts: A + 2 field writes);' +
    '\n  layer = tool - raw: encode, withMemory, decode (parts: B + C + D alone, E - A together);' +
    "\n  GC = V8's collections inside the tool's passes, per ioctl (part of the layer)",
)
const w4 = [7, 10, 10, 10, 10, 10, 10, 10]
console.log(row(['chunk', 'kernel(C)', 'floor', 'A+writes', 'layer', 'B+C+D', 'E-A', 'GC'], w4))
for (const r of rows) {
  const gc = median(r.toolGc) / (2 * r.ioctls)
  console.log(
    row(
      [
        size(r.chunk),
        ns(perIoctl(r, r.c)),
        ns(perIoctl(r, r.raw) - perIoctl(r, r.c)),
        ns(g.ffiCall + g.writeFields),
        ns(perIoctl(r, r.tool) - perIoctl(r, r.raw)),
        ns(g.layer),
        ns(g.wholeCall - g.ffiCall),
        ns(gc),
      ],
      w4,
    ),
  )
}

const two = rows.find((r) => r.chunk === 2 * MiB)
if (two) {
  const ratio = total(two.tool) / total(two.c)
  const kernel = perIoctl(two, two.c)
  const floor = perIoctl(two, two.raw) - kernel
  const layer = perIoctl(two, two.tool) - perIoctl(two, two.raw)
  console.log(
    `\n2 MiB chunks (${topology}): the tool takes ${x(ratio)} C's time, the raw floor ${x(total(two.raw) / total(two.c))}: ` +
      `${ratio <= 1.1 ? 'within' : 'NOT within'} the 10% target.` +
      `\nPer ioctl: the kernel's work (C) ${ns(kernel)} ns; the ffi-rs call ${ns(floor)} ns over it ` +
      `(errno capture ${ns(g.errno)} of that); the layer around the call ${ns(layer)} ns ` +
      `(withMemory's calloc + memset + view + free: ${ns(g.withMemory)} alone; encode + decode: ${ns(g.encode + g.decode)} alone; ` +
      `GC: ${ns(median(two.toolGc) / (2 * two.ioctls))}).` +
      `\n10% of C would be ${ns(kernel * 0.1)} ns per ioctl: one ffi-rs call costs ${x(floor / (kernel * 0.1))} that here.`,
  )
}
if (rows.some((r) => r.cDrift > 1.15 || r.cDrift < 0.87))
  console.log('note: the two C runs differ by more than 15% for some size: the host was busy; run again.')
if (printJson) console.log(JSON.stringify({topology, plan, c1, tool, c2, hostC, hostTool}, null, 2))
