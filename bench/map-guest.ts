/**
 * Runs inside the bench VM (bench/map.ts boots it): maps and unmaps a 1 GiB buffer into an IOAS
 * chunk by chunk through the tool's native layer, as bench/map.c does in C, and prints one JSON
 * object. Two paths per chunk size, interleaved pass by pass:
 *
 * - tool: Iommufd.map / Iommufd.unmap, the path every command takes (ioctlStruct: encode a
 *   Buffer, withMemory's calloc + memset + external Buffer + copy, the ioctl, decode, free);
 * - raw: the floor under it: one native struct per request, encoded once, with only user_va /
 *   iova (and the unmap length the kernel writes back) written per call, then libc.ioctlPtr
 *   (one ffi-rs call, errno captured).
 *
 * Then the parts of a call, each timed alone (ns per call): ffi-rs calls that do nothing
 * (getpid with and without errno capture, an ioctl on /dev/null that fails with ENOTTY), struct
 * encode and decode, NativeMemory alloc + free, and all of ioctlStruct's path together on
 * /dev/null. They are timed before the passes and after, and pooled. The GC pauses inside each
 * pass are recorded too. bench/map.ts subtracts and prints.
 *
 * The buffer is mmap'd with MAP_POPULATE, as in C, so no page fault happens in the timed loops.
 * One 2 MiB pass of each path runs untimed first, so that the JIT has compiled them.
 *
 * Usage: node --import tsx bench/map-guest.ts [--device /dev/vfio/devices/vfioN] [--calls N]
 *          [--parts-only] CHUNK:REPS[:BYTES] ...
 *   (the arguments of bench/map.c; --parts-only times only the parts, without /dev/iommu, which
 *   is how bench/map.ts times them on the host too)
 */
import * as fs from 'node:fs'
import {performance, PerformanceObserver} from 'node:perf_hooks'

// Only for the getpid baselines, with and without errno capture: every call the tool makes
// goes through src/native/libc.ts.
import {DataType, load, open as ffiOpen} from 'ffi-rs'

import {Iommufd} from '../src/iommufd/iommufd.js'
import {SyscallError} from '../src/native/errors.js'
import {
  ioctlPtr,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  mmap,
  munmap,
  O_CLOEXEC,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  sysClose,
  sysOpen,
} from '../src/native/libc.js'
import {NativeMemory, withMemory} from '../src/native/memory.js'
import * as U from '../src/native/uapi/iommufd.js'
import {VfioCdev} from '../src/vfio/cdev.js'

const BUFFER_SIZE = 1n << 30n
const IOVA_BASE = 1n << 32n
const MAP_POPULATE = 0x8000
const MAP_FLAGS = U.IOMMU_IOAS_MAP_FIXED_IOVA | U.IOMMU_IOAS_MAP_READABLE | U.IOMMU_IOAS_MAP_WRITEABLE

let device: string | undefined
let calls = 2000
let partsOnly = false
const plan: {chunk: bigint; reps: number; bytes: bigint}[] = []
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!
  if (a === '--device') device = argv[++i]
  else if (a === '--calls') calls = Number(argv[++i])
  else if (a === '--parts-only') partsOnly = true
  else {
    const [chunk, reps, bytes] = a.split(':')
    const p = {chunk: BigInt(chunk!), reps: Number(reps ?? 1), bytes: BigInt(bytes ?? BUFFER_SIZE)}
    if (p.chunk <= 0n || p.bytes > BUFFER_SIZE || p.bytes % p.chunk !== 0n || !(p.reps >= 1))
      throw new Error(`bad pass ${a}: CHUNK:REPS[:BYTES]`)
    plan.push(p)
  }
}

const now = () => process.hrtime.bigint()
type Times = {mapNs: number[]; unmapNs: number[]; gcNs: number[]}

// Garbage collections, to charge each pass with the GC pauses inside it. V8 reports them through
// the event loop, so they are matched to the passes' time windows at the end.
const gcs: {start: number; end: number}[] = []
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({start: e.startTime, end: e.startTime + e.duration})
}).observe({entryTypes: ['gc']})
const windows: {into: number[]; start: number; end: number}[] = []
/** Runs pass, and records its window so that gcNs gets the GC time inside it. */
function timed(into: Times, pass: () => [number, number]): void {
  const start = performance.now()
  const [map, unmap] = pass()
  into.mapNs.push(map)
  into.unmapNs.push(unmap)
  windows.push({into: into.gcNs, start, end: performance.now()})
}

// --- the parts of one call ---

/** 3 runs of `calls` calls of fn, after a warm-up: ns per call in each run. */
function perCall(fn: () => void): number[] {
  const warm = Math.min(calls, 2000)
  for (let i = 0; i < warm; i++) fn()
  const runs: number[] = []
  for (let k = 0; k < 3; k++) {
    const start = now()
    for (let i = 0; i < calls; i++) fn()
    runs.push(Number(now() - start) / calls)
  }
  return runs
}

ffiOpen({library: 'bench-libc', path: ''})
const getpid = (errno: boolean) => () =>
  load({
    library: 'bench-libc',
    funcName: 'getpid',
    retType: DataType.I32,
    paramsType: [],
    paramsValue: [],
    errno,
  })
const scratch = new NativeMemory(U.iommu_ioas_map.size)
const MAP_VA = U.iommu_ioas_map.fields.user_va.offset
const MAP_IOVA = U.iommu_ioas_map.fields.iova.offset
const sample = {flags: MAP_FLAGS, ioas_id: 1, user_va: 1n << 40n, length: 1n << 21n, iova: IOVA_BASE}
const encoded = U.iommu_ioas_map.encode(sample)
let sink = 0

/** Each part alone, ns per call: 3 runs each, appended to `into`. */
function parts(into: Record<string, number[]>): void {
  const devNull = sysOpen('/dev/null', O_RDWR | O_CLOEXEC)
  if (devNull.errno) throw new SyscallError('open /dev/null', devNull.errno)
  const measured: Record<string, () => void> = {
    getpidNoErrno: getpid(false),
    getpidErrno: getpid(true),
    ioctlEnotty: () => {
      if (ioctlPtr(devNull.value, U.IOMMU_IOAS_MAP, scratch.ptr).errno === 0)
        throw new Error('expected ENOTTY')
    },
    encodeMap: () => {
      sink += U.iommu_ioas_map.encode(sample).length
    },
    encodeUnmap: () => {
      sink += U.iommu_ioas_unmap.encode({ioas_id: 1, iova: IOVA_BASE, length: 1n << 21n}).length
    },
    decodeMap: () => {
      sink += U.iommu_ioas_map.decode(encoded).size
    },
    nativeMemory: () => new NativeMemory(U.iommu_ioas_map.size).free(),
    withMemory: () => {
      sink += withMemory(encoded, (m) => m.size)
    },
    // All of ioctlStruct's path, as src/native/ioctl.ts has it, on /dev/null (ENOTTY, no throw):
    // whether the parts add up when they run together.
    wholeCall: () => {
      const out = withMemory(U.iommu_ioas_map.encode(sample), (m) => {
        if (ioctlPtr(devNull.value, U.IOMMU_IOAS_MAP, m.ptr).errno === 0) throw new Error('expected ENOTTY')
        return U.iommu_ioas_map.decode(m.bytes)
      })
      sink += out.size
    },
    // The raw loop's per-call JavaScript besides the ffi-rs call.
    writeFields: () => {
      scratch.bytes.writeBigUInt64LE(sample.user_va, MAP_VA)
      scratch.bytes.writeBigUInt64LE(sample.iova, MAP_IOVA)
    },
  }
  for (const [name, fn] of Object.entries(measured)) (into[name] ??= []).push(...perCall(fn))
  sysClose(devNull.value)
}

const components: Record<string, number[]> = {}
if (partsOnly) {
  parts(components)
  parts(components)
  print({impl: 'tool', node: process.version, chunks: [], components})
  process.exit(0)
}

// --- the passes ---

const fd = Iommufd.open()
const ioas = fd.ioasAlloc()
let cdev: VfioCdev | undefined
if (device) {
  cdev = VfioCdev.open(device)
  cdev.bind(fd)
  cdev.attach(ioas)
}

const t0 = now()
const mem = mmap(
  Number(BUFFER_SIZE),
  PROT_READ | PROT_WRITE,
  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
  -1,
  0,
)
if (mem.errno) throw new SyscallError('mmap', mem.errno)
const populateNs = Number(now() - t0)
const base = mem.value

/** VmPin and VmLck of this process, in KiB. */
function pinned(): {vmPinKiB: number; vmLckKiB: number} {
  const status = fs.readFileSync('/proc/self/status', 'utf8')
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? -1)
  return {vmPinKiB: kib('VmPin'), vmLckKiB: kib('VmLck')}
}

/** The tool's path: one Iommufd.map per chunk, then one Iommufd.unmap per chunk. */
function toolPass(chunk: bigint, n: number, whileMapped?: () => void): [number, number] {
  let va = base
  let iova = IOVA_BASE
  const start = now()
  for (let i = 0; i < n; i++) {
    fd.map(ioas, {userVa: va, length: chunk, iova})
    va += chunk
    iova += chunk
  }
  const mapNs = Number(now() - start)
  whileMapped?.()
  const unmapStart = now()
  iova = IOVA_BASE
  for (let i = 0; i < n; i++) {
    fd.unmap(ioas, iova, chunk)
    iova += chunk
  }
  return [mapNs, Number(now() - unmapStart)]
}

// The floor: structs encoded once into native memory; per call only the moving fields are written.
const mapMem = new NativeMemory(U.iommu_ioas_map.size)
const unmapMem = new NativeMemory(U.iommu_ioas_unmap.size)
const UNMAP_IOVA = U.iommu_ioas_unmap.fields.iova.offset
const UNMAP_LENGTH = U.iommu_ioas_unmap.fields.length.offset

function rawPass(chunk: bigint, n: number): [number, number] {
  U.iommu_ioas_map.encodeInto(mapMem.bytes, {flags: MAP_FLAGS, ioas_id: ioas, length: chunk})
  U.iommu_ioas_unmap.encodeInto(unmapMem.bytes, {ioas_id: ioas})
  const mapBytes = mapMem.bytes
  const unmapBytes = unmapMem.bytes
  let va = base
  let iova = IOVA_BASE
  const start = now()
  for (let i = 0; i < n; i++) {
    mapBytes.writeBigUInt64LE(va, MAP_VA)
    mapBytes.writeBigUInt64LE(iova, MAP_IOVA)
    const r = ioctlPtr(fd.fd, U.IOMMU_IOAS_MAP, mapMem.ptr)
    if (r.errno) throw new SyscallError('IOMMU_IOAS_MAP', r.errno)
    va += chunk
    iova += chunk
  }
  const mapNs = Number(now() - start)
  const unmapStart = now()
  iova = IOVA_BASE
  for (let i = 0; i < n; i++) {
    unmapBytes.writeBigUInt64LE(iova, UNMAP_IOVA)
    unmapBytes.writeBigUInt64LE(chunk, UNMAP_LENGTH) // the kernel writes back what it unmapped
    const r = ioctlPtr(fd.fd, U.IOMMU_IOAS_UNMAP, unmapMem.ptr)
    if (r.errno) throw new SyscallError('IOMMU_IOAS_UNMAP', r.errno)
    iova += chunk
  }
  return [mapNs, Number(now() - unmapStart)]
}

// Warm-up, untimed: one 2 MiB-chunk pass over 64 MiB through each path.
toolPass(2n << 20n, 32)
rawPass(2n << 20n, 32)
parts(components)

const chunks = []
for (const {chunk, reps, bytes} of plan) {
  const n = Number(bytes / chunk)
  const tool: Times = {mapNs: [], unmapNs: [], gcNs: []}
  const raw: Times = {mapNs: [], unmapNs: [], gcNs: []}
  let pin = {vmPinKiB: -1, vmLckKiB: -1}
  for (let r = 0; r < reps; r++) {
    timed(tool, () => toolPass(chunk, n, r === 0 ? () => (pin = pinned()) : undefined))
    timed(raw, () => rawPass(chunk, n))
  }
  chunks.push({chunk: Number(chunk), bytes: Number(bytes), ioctls: n, tool, raw, ...pin})
}
parts(components)

// Let the GC observer deliver, then charge each pass's window.
await new Promise((resolve) => setTimeout(resolve, 100))
for (const w of windows) {
  let ns = 0
  for (const g of gcs) ns += Math.max(0, Math.min(g.end, w.end) - Math.max(g.start, w.start)) * 1e6
  w.into.push(Math.round(ns))
}

print({impl: 'tool', device: device ?? null, populateNs, node: process.version, chunks, components})
mapMem.free()
unmapMem.free()
cdev?.close()
fd.close()
munmap(base, Number(BUFFER_SIZE))

function print(result: object): void {
  process.stdout.write(JSON.stringify({...result, calls, sink: sink > 0}) + '\n')
}
