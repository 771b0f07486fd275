// The struct layouts and constants of src/native/uapi/ against the kernel's own headers: a C
// program generated from the TypeScript definitions prints, for every exported struct, its
// sizeof and _Alignof, and for every member its offsetof, sizeof, element size and signedness;
// and the value of every exported constant and request number. A member added on either side
// is checked without touching this file. Also: encode/decode, which needs no compiler.
//
// The headers are the test kernel's UAPI headers (test/vm/build-kernel.sh installs them in its
// cache). iommufd_test.h is not a UAPI header and is GPL-2.0 (without the syscall note), so it
// is not copied here: its check runs when $IOMMUCTL_KERNEL_SRC names a kernel source tree, or
// the kernel cache holds a copy as iommufd_test.h, and is skipped otherwise.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {describe, it, type TestContext} from 'node:test'

import {
  anonymousStruct,
  defineStruct,
  isStruct,
  scalarInfo,
  type AnyStruct,
  type StructValues,
} from '../../src/native/layout.js'
import * as iommufdTest from '../../src/native/uapi/iommufd-test.js'
import * as iommufd from '../../src/native/uapi/iommufd.js'
import * as libc from '../../src/native/uapi/libc.js'
import * as vfio from '../../src/native/uapi/vfio.js'
import {cmsgLen, cmsgSpace} from '../../src/native/socket.js'
import {ensureKernel} from '../vm/harness.js'

const MODULES = {iommufd, vfio, iommufdTest, libc} as const
const required = process.env.IOMMUCTL_REQUIRE_VM === '1'

function structsOf(mod: object): [string, AnyStruct][] {
  return Object.entries(mod).filter((e): e is [string, AnyStruct] => isStruct(e[1]))
}

const ALL_STRUCTS = Object.values(MODULES).flatMap(structsOf)

/** A struct without its member types, to feed it what the types would refuse. */
function untyped(s: AnyStruct): {encode(values: object): Buffer} {
  return s as unknown as {encode(values: object): Buffer}
}

describe('struct layout', () => {
  it('lays out iommu_ioas_map as C does', () => {
    const s = iommufd.iommu_ioas_map
    assert.equal(s.size, 40)
    assert.equal(s.align, 8)
    assert.deepEqual(
      Object.entries(s.fields).map(([name, f]) => [name, f.offset, f.type]),
      [
        ['size', 0, 'u32'],
        ['flags', 4, 'u32'],
        ['ioas_id', 8, 'u32'],
        ['__reserved', 12, 'u32'],
        ['user_va', 16, 'aligned_u64'],
        ['length', 24, 'aligned_u64'],
        ['iova', 32, 'aligned_u64'],
      ],
    )
    assert.equal(s.sizeField, 'size')
    assert.equal(s.offsetOfEnd('iova'), 40)
  })

  it('pads to natural alignment and rounds the size up to the largest member', () => {
    const s = defineStruct('t', [
      ['a', 'u8'],
      ['b', 'u16'],
      ['c', 'u8'],
      ['d', 'u64'],
      ['e', 'u8'],
    ])
    assert.deepEqual(
      Object.values(s.fields).map((f) => f.offset),
      [0, 2, 4, 8, 16],
    )
    assert.equal(s.size, 24)
    const small = defineStruct('small', [
      ['a', 'u32'],
      ['b', 'u8'],
    ])
    assert.equal(small.size, 8)
    assert.equal(small.align, 4)
  })

  it('places arrays, flexible arrays, nested structs and unions', () => {
    const hw = iommufd.iommu_hw_info
    assert.equal(hw.fields.in_data_type.offset, 24)
    assert.equal(hw.fields.out_data_type.offset, 24)
    assert.deepEqual(hw.fields.__reserved, {offset: 29, type: 'u8', count: 3, size: 3})
    assert.equal(hw.fields.out_capabilities.offset, 32)
    assert.equal(hw.size, 40)

    const caps = vfio.vfio_iommu_type1_info_cap_iova_range
    assert.equal(caps.fields['header.next'].offset, 4)
    assert.equal(caps.fields.iova_ranges.offset, 16)
    assert.equal(caps.fields.iova_ranges.size, 0)
    assert.equal(caps.size, 16)
    // header, then flags, then 4 bytes of padding before the first u64
    assert.equal(vfio.vfio_iommu_type1_info_cap_migration.fields.pgsize_bitmap.offset, 16)

    const cmd = iommufdTest.iommu_test_cmd
    assert.equal(cmd.fields['dirty.out_nr_dirty'].offset, 16 + 40)
    assert.equal(cmd.fields['mock_domain_flags.dev_flags'].offset, 28)
    assert.equal(cmd.fields.last.offset, 64)
    assert.equal(cmd.size, 72)
    assert.equal(cmd.offsetOfEnd('last'), 68)
  })

  it('has no padding holes other than the ones C has', () => {
    // Bytes no member covers: a member missing on the TypeScript side would usually show here.
    const holes: Record<string, string> = {}
    for (const [, s] of ALL_STRUCTS) {
      const covered = new Uint8Array(s.size)
      for (const f of Object.values(s.fields))
        if (typeof f.type === 'string') covered.fill(1, f.offset, f.offset + f.size)
      const gaps: string[] = []
      for (let i = 0; i < s.size; i++) {
        if (covered[i]) continue
        const start = i
        while (i < s.size && !covered[i]) i++
        gaps.push(`${start}..${i}`)
      }
      if (gaps.length) holes[s.name] = gaps.join(' ')
    }
    assert.deepEqual(holes, {
      vfio_iommu_type1_info_cap_migration: '12..16',
      iommu_test_cmd: '68..72',
      msghdr: '12..16 52..56',
    })
  })

  it('names every struct export after its C tag, and exports nothing but structs and integers', () => {
    for (const [modName, mod] of Object.entries(MODULES)) {
      for (const [key, value] of Object.entries(mod)) {
        if (isStruct(value)) assert.equal(value.name, key, `${modName}.${key}`)
        else assert.ok(typeof value === 'number' && Number.isSafeInteger(value), `${modName}.${key}`)
      }
    }
  })

  it('rejects members it cannot place', () => {
    assert.throws(
      () =>
        defineStruct('dup', [
          ['a', 'u32'],
          ['a', 'u32'],
        ]),
      /duplicate member a/,
    )
    assert.throws(
      () => defineStruct('arr', [['a', iommufd.iommu_iova_range, 2]]),
      /only supported as flexible/,
    )
  })
})

describe('encode and decode', () => {
  it('zero-fills, and sets size or argsz to the struct size unless given', () => {
    const buf = iommufd.iommu_ioas_alloc.encode()
    assert.equal(buf.length, 12)
    assert.deepEqual([...buf], [12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert.equal(vfio.vfio_iommu_type1_info.encode().readUInt32LE(0), 24)
    assert.equal(vfio.vfio_device_info.encode().readUInt32LE(0), 24)
    assert.equal(iommufd.iommu_destroy.encode({size: 3, id: 9}).readUInt32LE(0), 3)
    // no size member: nothing set
    assert.deepEqual([...iommufd.iommu_iova_range.encode()], Array(16).fill(0))
    assert.equal(iommufd.iommu_iova_range.sizeField, null)
    // vfio_iommu_type1_dma_map has a u64 `size` too, but argsz is its header
    assert.equal(vfio.vfio_iommu_type1_dma_map.sizeField, 'argsz')
  })

  it('writes little-endian at the C offsets, and reads u64 as bigint and the rest as number', () => {
    const s = iommufd.iommu_ioas_map
    const buf = s.encode({
      flags: iommufd.IOMMU_IOAS_MAP_FIXED_IOVA | iommufd.IOMMU_IOAS_MAP_READABLE,
      ioas_id: 2,
      user_va: 0x7f00_1234_5000n,
      length: 4096,
      iova: 0xffff_ffff_ffff_f000n,
    })
    assert.equal(
      buf.toString('hex'),
      '28000000' +
        '05000000' +
        '02000000' +
        '00000000' +
        '0050341200' +
        '7f0000' +
        '0010000000000000' +
        '00f0ffffffffffff',
    )
    const v = s.decode(buf)
    assert.deepEqual(v, {
      size: 40,
      flags: 5,
      ioas_id: 2,
      __reserved: 0,
      user_va: 0x7f00_1234_5000n,
      length: 4096n,
      iova: 0xffff_ffff_ffff_f000n,
    })
    const fd = iommufd.iommu_ioas_map_file.decode(iommufd.iommu_ioas_map_file.encode({fd: -1}))
    assert.equal(fd.fd, -1)
  })

  it('round-trips every member of every struct', () => {
    for (const [, s] of ALL_STRUCTS) {
      // Union members overlap: take, in order, the members that do not overlap one taken before.
      const taken: [string, number, number][] = []
      const values: Record<string, number | bigint | (number | bigint)[]> = {}
      let n = 1
      for (const [name, f] of Object.entries(s.fields)) {
        if (typeof f.type !== 'string' || f.count === 0) continue
        if (taken.some(([, a, b]) => f.offset < b && a < f.offset + f.size)) continue
        taken.push([name, f.offset, f.offset + f.size])
        const {size, signed} = scalarInfo(f.type)
        const one = (): number | bigint => {
          n++
          if (size === 8) return signed ? -BigInt(n) * 0x1_0000_0001n : BigInt(n) * 0x0101_0101_0101_0101n
          const v = (n * 0x01010101) % 2 ** (size * 8)
          return signed ? v - 2 ** (size * 8 - 1) : v
        }
        values[name] = f.count === undefined ? one() : Array.from({length: f.count}, one)
      }
      const decoded = s.decode(untyped(s).encode(values)) as Record<string, unknown>
      for (const [name] of taken) assert.deepEqual(decoded[name], values[name], `${s.name}.${name}`)
    }
  })

  it('encodes arrays member by member, shorter lists zero-filled', () => {
    const s = iommufd.iommu_hw_info_arm_smmuv3
    const v = s.decode(s.encode({idr: [1, 2, 3], aidr: 7}))
    assert.deepEqual(v.idr, [1, 2, 3, 0, 0, 0])
    assert.equal(v.aidr, 7)
    assert.throws(() => s.encode({idr: [1, 2, 3, 4, 5, 6, 7]}), /at most 6/)
  })

  it('encodes into and decodes from a larger buffer at an offset', () => {
    const s = iommufd.iommu_iova_range
    const buf = Buffer.alloc(8 + 2 * s.size, 0xaa)
    s.encodeInto(buf, {start: 0x1000, last: 0x1fff}, 8)
    s.encodeInto(buf, {start: 0x4000n, last: 0xffffn}, 8 + s.size)
    assert.deepEqual(s.decodeArray(buf, 2, 8), [
      {start: 0x1000n, last: 0x1fffn},
      {start: 0x4000n, last: 0xffffn},
    ])
    assert.equal(buf[0], 0xaa, 'bytes before the struct untouched')
    assert.deepEqual(
      s.encodeArray([{start: 1}, {last: 2}]),
      Buffer.concat([s.encode({start: 1}), s.encode({last: 2})]),
    )
    assert.throws(() => s.decode(buf, buf.length - 8), RangeError)
    assert.throws(() => s.encodeInto(Buffer.alloc(15), {}), RangeError)
  })

  it('reads a capability chain with the header struct', () => {
    // A vfio_iommu_type1_info with one IOVA-range capability holding two ranges, built by hand.
    const info = vfio.vfio_iommu_type1_info
    const cap = vfio.vfio_iommu_type1_info_cap_iova_range
    const range = vfio.vfio_iova_range
    const capAt = info.size
    const buf = Buffer.alloc(capAt + cap.size + 2 * range.size)
    info.encodeInto(buf, {argsz: buf.length, flags: vfio.VFIO_IOMMU_INFO_CAPS, cap_offset: capAt})
    cap.encodeInto(
      buf,
      {'header.id': vfio.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 'header.version': 1, nr_iovas: 2},
      capAt,
    )
    range.encodeInto(buf, {start: 0, end: 0xfedfffffn}, capAt + cap.fields.iova_ranges.offset)
    range.encodeInto(
      buf,
      {start: 0xfef00000n, end: 2n ** 48n - 1n},
      capAt + cap.fields.iova_ranges.offset + range.size,
    )

    const head = vfio.vfio_info_cap_header.decode(buf, info.decode(buf).cap_offset)
    assert.deepEqual(head, {id: 1, version: 1, next: 0})
    const c = cap.decode(buf, capAt)
    assert.deepEqual(range.decodeArray(buf, c.nr_iovas, capAt + cap.fields.iova_ranges.offset), [
      {start: 0n, end: 0xfedfffffn},
      {start: 0xfef00000n, end: 2n ** 48n - 1n},
    ])
  })

  it('refuses unknown members, non-integers and values out of range', () => {
    const s = iommufd.iommu_option
    assert.throws(() => untyped(s).encode({val: 1}), /no member val/)
    assert.throws(() => s.encode({op: 0x1_0000}), /does not fit in u16/)
    assert.throws(() => s.encode({op: -1}), /does not fit in u16/)
    assert.throws(() => s.encode({object_id: 1.5}), /not an integer/)
    assert.throws(() => s.encode({val64: -1n}), RangeError)
    assert.throws(() => s.encode({val64: 2n ** 64n}), RangeError)
    assert.equal(s.decode(s.encode({val64: 2n ** 64n - 1n})).val64, 2n ** 64n - 1n)
    assert.equal(s.decode(s.encode({object_id: 2n})).object_id, 2)
    assert.throws(() => untyped(s).encode({'mock_domain.out_stdev_id': 1}), /no member/)
  })

  it('makes buffers one byte short and one byte long for the kernel size checks', () => {
    const s = iommufd.iommu_destroy
    const short = s.encodeSized({id: 1}, s.size - 1)
    assert.equal(short.length, s.size, 'the buffer still holds the whole struct')
    assert.equal(short.readUInt32LE(0), 7)
    assert.equal(short.readUInt32LE(4), 1)

    const long = s.encodeSized({id: 1}, s.size + 1, 0xff)
    assert.equal(long.length, 9)
    assert.equal(long.readUInt32LE(0), 9)
    assert.equal(long[8], 0xff, 'a non-zero byte past the struct: E2BIG')
    assert.equal(s.encodeSized({}, s.size + 8)[8], 0, 'zero past the struct: accepted')

    // Below the kernel's minimum (offsetofend of the last member it requires): EINVAL.
    const hw = iommufd.iommu_hw_info
    assert.equal(hw.encodeSized({}, hw.offsetOfEnd('__reserved') - 1).readUInt32LE(0), 31)
    assert.equal(vfio.vfio_device_info.encodeSized({}, 4).readUInt32LE(0), 4)
    assert.throws(() => iommufd.iommu_iova_range.encodeSized({}, 15), /no size or argsz/)
  })

  it('types decoded members by their C types', () => {
    // Compile-time checks (tsc runs over test/): wrong member names and types do not build.
    const hw = iommufd.iommu_hw_info.decode(iommufd.iommu_hw_info.encode())
    const caps: bigint = hw.out_capabilities
    const width: number = hw.out_max_pasid_log2
    const reserved: number[] = hw.__reserved
    const cmd: StructValues<typeof iommufdTest.iommu_test_cmd> = iommufdTest.iommu_test_cmd.decode(
      iommufdTest.iommu_test_cmd.encode({
        op: iommufdTest.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
        'mock_domain_flags.dev_flags': iommufdTest.MOCK_FLAGS_DEVICE_PASID,
      }),
    )
    const stdev: number = cmd['mock_domain_flags.out_stdev_id']
    // Never called: what must not compile.
    const wontCompile = () => {
      // @ts-expect-error no such member
      iommufd.iommu_ioas_map.encode({iova_va: 1})
      // @ts-expect-error a flexible array member has no value
      vfio.vfio_iommu_type1_info_cap_iova_range.encode({iova_ranges: 1})
      // @ts-expect-error u64 members decode as bigint
      const wrong: number = iommufd.iommu_ioas_map.decode(Buffer.alloc(40)).iova
      // @ts-expect-error union members are named by their member: mock_domain.out_stdev_id
      return wrong + cmd.out_stdev_id
    }
    assert.equal(typeof wontCompile, 'function')
    assert.deepEqual([caps, width, reserved, stdev], [0n, 0, [0, 0, 0], 0])
    assert.equal(cmd['mock_domain_flags.dev_flags'], 4)
    assert.equal(anonymousStruct([['x', 'u16']]).name, '')
  })

  it('computes the request numbers as _IO(type, nr)', () => {
    assert.equal(iommufd.IOMMU_DESTROY, 15232)
    assert.equal(iommufd.IOMMU_IOAS_ALLOC, 15233)
    assert.equal(iommufd.IOMMU_IOAS_MAP_FILE, 0x3b8f)
    assert.equal(vfio.VFIO_GET_API_VERSION, 0x3b64)
    assert.equal(vfio.VFIO_DEVICE_DETACH_IOMMUFD_PT, 0x3b78)
    assert.equal(iommufdTest.IOMMU_TEST_CMD, 0x3ba0)
    // enum iommufd_cmd: FAULT_QUEUE_ALLOC 0x8e, IOAS_CHANGE_PROCESS 0x92, VEVENTQ_ALLOC 0x93,
    // HW_QUEUE_ALLOC 0x94.
    assert.equal(iommufd.IOMMU_FAULT_QUEUE_ALLOC, 0x3b8e)
    assert.equal(iommufd.IOMMU_IOAS_CHANGE_PROCESS, 0x3b92)
    assert.equal(iommufd.IOMMU_VEVENTQ_ALLOC, 0x3b93)
    assert.equal(iommufd.IOMMU_HW_QUEUE_ALLOC, 0x3b94)
  })
})

// ---- the C check ----

interface Check {
  expr: string
  want: bigint
}

/** What the C program prints for one struct: sizes, alignment, and every member. */
function structChecks(s: AnyStruct): Check[] {
  const T = `struct ${s.name}`
  const member = (f: string) => `((${T} *)0)->${f}`
  const out: Check[] = [
    {expr: `sizeof(${T})`, want: BigInt(s.size)},
    {expr: `_Alignof(${T})`, want: BigInt(s.align)},
  ]
  for (const [name, f] of Object.entries(s.fields)) {
    out.push({expr: `offsetof(${T}, ${name})`, want: BigInt(f.offset)})
    // sizeof a flexible array member is an error; its element's size is not
    if (f.count !== 0) out.push({expr: `sizeof(${member(name)})`, want: BigInt(f.size)})
    const elem = f.count === undefined ? member(name) : `${member(name)}[0]`
    if (typeof f.type === 'string') {
      const {size, signed} = scalarInfo(f.type)
      if (f.count !== undefined) out.push({expr: `sizeof(${elem})`, want: BigInt(size)})
      out.push({expr: `(__typeof__(${elem}))-1 < 0`, want: signed ? 1n : 0n})
    } else {
      if (f.count !== undefined) out.push({expr: `sizeof(${elem})`, want: BigInt(f.type.size)})
      if (f.type.name)
        out.push({expr: `__builtin_types_compatible_p(__typeof__(${elem}), struct ${f.type.name})`, want: 1n})
    }
  }
  return out
}

/** Checks for every struct and integer a module exports; integers are checked by their name. */
function moduleChecks(mod: object): Check[] {
  return Object.entries(mod).flatMap(([key, value]): Check[] => {
    if (isStruct(value)) return structChecks(value)
    if (typeof value === 'number' || typeof value === 'bigint') return [{expr: key, want: BigInt(value)}]
    return []
  })
}

function cacheDir(): string {
  return (
    process.env.IOMMUCTL_VM_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'iommuctl-vm')
  )
}

let kernelDirMemo: {dir: string | null; why: string} | undefined

/**
 * The test kernel's cache directory (include/ holds its UAPI headers). Under
 * IOMMUCTL_REQUIRE_VM=1 that is ensureKernel()'s, built if need be; otherwise the newest
 * kernel-* in the cache that has the headers, so that a unit run never starts a kernel build.
 */
function kernelDir(): {dir: string | null; why: string} {
  if (kernelDirMemo) return kernelDirMemo
  if (required) return (kernelDirMemo = {dir: ensureKernel(), why: ''})
  const cache = cacheDir()
  let names: string[] = []
  try {
    names = fs.readdirSync(cache).filter((n) => n.startsWith('kernel-'))
  } catch {
    // no cache yet
  }
  const dirs = names
    .map((n) => path.join(cache, n))
    .filter((d) => fs.existsSync(path.join(d, 'include/linux/iommufd.h')))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)
  kernelDirMemo = dirs[0]
    ? {dir: dirs[0], why: ''}
    : {dir: null, why: `no test kernel headers in ${cache}/kernel-*/include (run test/vm/build-kernel.sh)`}
  return kernelDirMemo
}

function gccProblem(): string | null {
  const r = spawnSync('gcc', ['--version'], {encoding: 'utf8'})
  if (r.error) return `gcc cannot run (${r.error.message})`
  return r.status === 0 ? null : `gcc --version exited with ${r.status}`
}

/** iommufd_test.h: from $IOMMUCTL_KERNEL_SRC's tree, or a copy beside the kernel's headers. */
function iommufdTestHeader(dir: string): string | null {
  const candidates = [
    ...(process.env.IOMMUCTL_KERNEL_SRC
      ? [path.join(process.env.IOMMUCTL_KERNEL_SRC, 'drivers/iommu/iommufd/iommufd_test.h')]
      : []),
    path.join(dir, 'iommufd_test.h'),
  ]
  return candidates.find((c) => fs.existsSync(c)) ?? null
}

/** Compiles and runs the checks; returns the mismatches and how many values were compared. */
function runChecks(
  checks: Check[],
  includes: string[],
  iquote: string[],
  headers: string,
  defines: string[] = [],
): string[] {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-uapi-'))
  try {
    const source = [
      ...defines.map((d) => `#define ${d}`),
      '#include <stddef.h>',
      '#include <stdio.h>',
      ...includes.map((h) => `#include ${h}`),
      'int main(void)',
      '{',
      ...checks.map((c) => `\tprintf("%lld\\n", (long long)(${c.expr}));`),
      '\treturn 0;',
      '}',
      '',
    ].join('\n')
    fs.writeFileSync(path.join(tmp, 'check.c'), source)
    const exe = path.join(tmp, 'check')
    const r = spawnSync(
      'gcc',
      ['-std=gnu11', '-Wall', '-I', headers, ...iquote.flatMap((d) => ['-iquote', d]), '-o', exe, 'check.c'],
      {cwd: tmp, encoding: 'utf8'},
    )
    if (r.status !== 0) throw new Error(`gcc failed on the generated program:\n${r.stderr}\n${source}`)
    const lines = execFileSync(exe, {encoding: 'utf8'}).trim().split('\n')
    assert.equal(lines.length, checks.length)
    return checks.flatMap((c, i) =>
      BigInt(lines[i]!) === c.want ? [] : [`${c.expr}: C ${lines[i]}, TS ${c.want}`],
    )
  } finally {
    fs.rmSync(tmp, {recursive: true, force: true})
  }
}

/** Why the C check cannot run here, or null. */
function cProblem(): string | null {
  const gcc = gccProblem()
  if (gcc) return gcc
  return kernelDir().why || null
}

function cIt(name: string, fn: (t: TestContext, dir: string) => void): void {
  it(name, (t) => {
    const problem = cProblem()
    if (problem) {
      if (required) throw new Error(`the UAPI check is required here (IOMMUCTL_REQUIRE_VM=1) but ${problem}`)
      t.skip(problem)
      return
    }
    fn(t, kernelDir().dir!)
  })
}

function check(t: TestContext, mod: object, includes: string[], iquote: string[], dir: string): void {
  const checks = moduleChecks(mod)
  const bad = runChecks(checks, includes, iquote, path.join(dir, 'include'))
  t.diagnostic(`${checks.length} values compared against ${dir}`)
  assert.deepEqual(bad, [])
}

describe('UAPI definitions against the test kernel headers (gcc)', () => {
  cIt('matches include/uapi/linux/iommufd.h', (t, dir) => {
    check(t, iommufd, ['<linux/iommufd.h>'], [], dir)
  })

  cIt('matches include/uapi/linux/vfio.h', (t, dir) => {
    check(t, vfio, ['<linux/vfio.h>'], [], dir)
  })

  cIt('matches drivers/iommu/iommufd/iommufd_test.h', (t, dir) => {
    const header = iommufdTestHeader(dir)
    if (!header) {
      t.skip(
        'iommufd_test.h not found: set IOMMUCTL_KERNEL_SRC to a Linux 7.2 source tree, or copy the ' +
          `header to ${path.join(dir, 'iommufd_test.h')}`,
      )
      return
    }
    check(t, iommufdTest, ['<linux/iommufd.h>', '"iommufd_test.h"'], [path.dirname(header)], dir)
  })

  // The C library's own headers, not the kernel's: sendmsg, recvmsg and prlimit are glibc calls.
  it('matches glibc <sys/socket.h>, <sys/un.h>, <sys/uio.h>, <poll.h>, <sys/resource.h>, <fcntl.h>', (t) => {
    const gcc = gccProblem()
    if (gcc) {
      if (required) throw new Error(`the UAPI check is required here (IOMMUCTL_REQUIRE_VM=1) but ${gcc}`)
      t.skip(gcc)
      return
    }
    // CMSG_LEN and CMSG_SPACE for 1 to 9 descriptors: odd counts need the padding.
    const macros = Array.from({length: 9}, (_, i) => 4 * (i + 1)).flatMap((n) => [
      {expr: `CMSG_LEN(${n})`, want: BigInt(cmsgLen(n))},
      {expr: `CMSG_SPACE(${n})`, want: BigInt(cmsgSpace(n))},
    ])
    const checks = [...moduleChecks(libc), ...macros]
    const includes = [
      '<sys/socket.h>',
      '<sys/un.h>',
      '<sys/uio.h>',
      '<poll.h>',
      '<sys/resource.h>',
      '<fcntl.h>',
    ]
    const bad = runChecks(checks, includes, [], '/usr/include', ['_GNU_SOURCE'])
    t.diagnostic(`${checks.length} values compared against the C library's headers`)
    assert.deepEqual(bad, [])
  })

  it('generates checks for every struct member and constant', (t) => {
    for (const [name, mod] of Object.entries(MODULES)) {
      const checks = moduleChecks(mod)
      const exprs = new Set(checks.map((c) => c.expr))
      for (const [key, value] of Object.entries(mod)) {
        if (!isStruct(value)) assert.ok(exprs.has(key), `${name}.${key}`)
        else for (const f of Object.keys(value.fields)) assert.ok(exprs.has(`offsetof(struct ${key}, ${f})`))
      }
      t.diagnostic(`${name}: ${checks.length} checks`)
    }
  })
})
