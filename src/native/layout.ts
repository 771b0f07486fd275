// Kernel struct layouts, defined once from their C field lists. Offsets follow the x86_64 SysV
// ABI (what the kernel's UAPI headers compile to there): every scalar is aligned to its size,
// __aligned_u64 to 8, a struct or union to its largest member, and a struct's size is rounded
// up to its alignment. Byte order is little-endian. x86_64 is the only target: on i386, for
// one, a plain __u64 is 4-aligned and several of these layouts would differ.
//
// No ffi-rs here: this module only turns values into bytes and back. test/unit/uapi-layout.test.ts
// compiles every definition's sizeof, offsetof and member sizes against the kernel headers.

/** C scalar types, by their kernel names without the leading `__`. */
export type ScalarType = 'u8' | 'u16' | 'u32' | 'u64' | 's8' | 's16' | 's32' | 's64' | 'aligned_u64'

type WideType = 'u64' | 's64' | 'aligned_u64'

/** What a scalar decodes to: 64-bit types as bigint, narrower ones as number. */
export type ScalarValue<T extends ScalarType> = T extends WideType ? bigint : number

/**
 * One C member:
 * - `['name', 'u32']`: a scalar;
 * - `['name', 'u32', 6]`: a fixed array (`__u32 name[6]`); count 0 is a flexible array member
 *   (`name[]`), which has an offset but no bytes of its own and is never encoded or decoded;
 * - `['name', otherStruct]`: a nested struct, whose members are then named `name.member`;
 *   `['name', otherStruct, 0]` is a flexible array of them;
 * - `{union: [...]}`: an anonymous union, its members at one offset under their own names.
 */
export type FieldSpec =
  | readonly [name: string, type: ScalarType | AnyStruct]
  | readonly [name: string, type: ScalarType | AnyStruct, count: number]
  | {readonly union: readonly FieldSpec[]}

/** Where a member lies, by its (dotted, for nested members) name. */
export interface FieldInfo {
  readonly offset: number
  /** The scalar type, or the nested struct. */
  readonly type: ScalarType | AnyStruct
  /** Array length; 0 for a flexible array member; absent for a single value. */
  readonly count?: number
  /** Bytes the member occupies: sizeof(member); 0 for a flexible array member. */
  readonly size: number
}

/** What encode() accepts for each member: any integer for a scalar, a list for an array. */
export type EncodeValues<V> = {
  [K in keyof V]?: V[K] extends readonly unknown[] ? readonly (number | bigint)[] : number | bigint
}

declare const VALUES: unique symbol
declare const NAMES: unique symbol

/** A struct layout. V: the decoded value of each member; N: every member name, nested ones too. */
export interface Struct<V extends object, N extends string = string> {
  /** Type-level only, never set: what decode() returns, for inference. */
  readonly [VALUES]?: V
  /** Type-level only, never set: the member names. */
  readonly [NAMES]?: N
  /** The C struct tag (`iommu_ioas_map` for `struct iommu_ioas_map`); '' for an anonymous one. */
  readonly name: string
  /** sizeof(struct name). */
  readonly size: number
  /** _Alignof(struct name). */
  readonly align: number
  readonly fields: {readonly [K in N]: FieldInfo}
  /** 'size' or 'argsz' when the first member is a __u32 of that name (the extensible-ioctl header). */
  readonly sizeField: 'size' | 'argsz' | null
  /**
   * A zero-filled buffer of exactly `size` bytes holding `values`; the size/argsz member, when the
   * struct has one and it is not given, is set to `size`.
   */
  encode(values?: EncodeValues<V>): Buffer
  /** encode() into `buf` at `offset`: zero-fills the struct's bytes there, then writes. */
  encodeInto(buf: Buffer, values?: EncodeValues<V>, offset?: number): Buffer
  /**
   * For tests of the kernel's size checks: a buffer of max(sizeof, size) bytes whose size/argsz
   * member says `size`, with `values` encoded and every byte past sizeof set to `tail`. So
   * `encodeSized({}, s.size - 1)` is one byte short, `encodeSized({}, s.size + 1, 0xff)` one
   * byte long with a non-zero extra byte (E2BIG from iommufd), and `s.offsetOfEnd(last) - 1`
   * is below the kernel's minimum.
   */
  encodeSized(values: EncodeValues<V>, size: number, tail?: number): Buffer
  /** The members of the struct at `offset` in `buf` (which must hold all `size` bytes). */
  decode(buf: Buffer, offset?: number): V
  /** Consecutive structs, as in an array of `struct iommu_iova_range`. */
  encodeArray(list: readonly EncodeValues<V>[]): Buffer
  decodeArray(buf: Buffer, count: number, offset?: number): V[]
  /** offsetofend(struct, member): the first byte after the member. */
  offsetOfEnd(member: N): number
}

// Method syntax above makes Struct's parameters bivariant, so any Struct is an AnyStruct.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export type AnyStruct = Struct<{}, string>

// Type-level reading of a field list: each spec yields [name, value type] entries (nothing for a
// flexible array), and the names of all members.
type Entry<F> = F extends {readonly union: readonly (infer U)[]}
  ? Entry<U>
  : F extends readonly [infer N extends string, infer T extends ScalarType]
    ? [N, ScalarValue<T>]
    : F extends readonly [infer N extends string, infer T extends ScalarType, infer C extends number]
      ? C extends 0
        ? never
        : [N, ScalarValue<T>[]]
      : F extends readonly [infer N extends string, {readonly [VALUES]?: infer V}]
        ? {[K in keyof V & string]: [`${N}.${K}`, V[K]]}[keyof V & string]
        : never

type Name<F> = F extends {readonly union: readonly (infer U)[]}
  ? Name<U>
  : F extends readonly [infer N extends string, ScalarType, ...unknown[]]
    ? N
    : F extends readonly [infer N extends string, {readonly [NAMES]?: infer M extends string}]
      ? N | `${N}.${M}`
      : F extends readonly [infer N extends string, AnyStruct, number]
        ? N
        : never

/** The decoded values of a field list. */
export type ValuesOf<L extends readonly unknown[]> = {
  [
    E in Entry<L[number]> as E extends readonly [infer K extends string, unknown] ? K : never
  ]: E extends readonly [string, infer T] ? T : never
}

/** Decoded values of a struct: `StructValues<typeof iommu_ioas_map>`. */
export type StructValues<S> = S extends {readonly [VALUES]?: infer V} ? V : never

const SCALARS: Record<ScalarType, {size: number; align: number; signed: boolean}> = {
  u8: {size: 1, align: 1, signed: false},
  s8: {size: 1, align: 1, signed: true},
  u16: {size: 2, align: 2, signed: false},
  s16: {size: 2, align: 2, signed: true},
  u32: {size: 4, align: 4, signed: false},
  s32: {size: 4, align: 4, signed: true},
  u64: {size: 8, align: 8, signed: false},
  s64: {size: 8, align: 8, signed: true},
  aligned_u64: {size: 8, align: 8, signed: false},
}

/** Size, alignment and signedness of a scalar type. */
export function scalarInfo(type: ScalarType): {size: number; align: number; signed: boolean} {
  return SCALARS[type]
}

export function isStruct(x: unknown): x is AnyStruct {
  return x instanceof StructLayout
}

/** A scalar or fixed array that encode/decode read and write. */
interface Leaf {
  name: string
  offset: number
  type: ScalarType
  count: number | undefined
}

const roundUp = (n: number, align: number) => Math.ceil(n / align) * align

function isUnion(spec: FieldSpec): spec is {readonly union: readonly FieldSpec[]} {
  return !Array.isArray(spec)
}

class StructLayout {
  readonly size: number
  readonly align: number
  readonly fields: Record<string, FieldInfo> = {}
  readonly sizeField: 'size' | 'argsz' | null
  /** Scalars and arrays in offset order (union members overlap), nested ones flattened. */
  readonly leaves: Leaf[] = []
  /** The leaves by name, built on the first encode (encode runs once per ioctl). */
  private byName: Map<string, Leaf> | undefined

  constructor(
    readonly name: string,
    specs: readonly FieldSpec[],
  ) {
    const {size, align} = this.place(specs, 0)
    this.align = align
    this.size = roundUp(size, align)
    const first = specs[0]
    const firstName = first && !isUnion(first) ? first[0] : null
    this.sizeField =
      (firstName === 'size' || firstName === 'argsz') && this.fields[firstName]?.type === 'u32'
        ? firstName
        : null
  }

  /** Lays out `specs` from `start`; returns the end offset and the alignment they need. */
  private place(specs: readonly FieldSpec[], start: number): {size: number; align: number} {
    let offset = start
    let align = 1
    for (const spec of specs) {
      if (isUnion(spec)) {
        const memberAlign = Math.max(1, ...spec.union.map((m) => this.alignOf(m)))
        const at = roundUp(offset, memberAlign)
        let end = at
        for (const member of spec.union) end = Math.max(end, this.place([member], at).size)
        offset = at + roundUp(end - at, memberAlign)
        align = Math.max(align, memberAlign)
        continue
      }
      const [name, type, count] = spec
      if (name in this.fields) throw new Error(`struct ${this.name}: duplicate member ${name}`)
      if (count !== undefined && (!Number.isInteger(count) || count < 0))
        throw new Error(`struct ${this.name}: bad array length ${count} for ${name}`)
      const elem = typeof type === 'string' ? SCALARS[type] : {size: type.size, align: type.align}
      const at = roundUp(offset, elem.align)
      const size = elem.size * (count ?? 1)
      this.fields[name] = count === undefined ? {offset: at, type, size} : {offset: at, type, count, size}
      if (typeof type === 'string') {
        if (count !== 0) this.leaves.push({name, offset: at, type, count})
      } else if (count === undefined) {
        const inner = type as unknown as StructLayout
        for (const [sub, info] of Object.entries(inner.fields))
          this.fields[`${name}.${sub}`] = {...info, offset: at + info.offset}
        for (const leaf of inner.leaves)
          this.leaves.push({...leaf, name: `${name}.${leaf.name}`, offset: at + leaf.offset})
      } else if (count !== 0) {
        throw new Error(`struct ${this.name}: arrays of structs (${name}) are only supported as flexible`)
      }
      offset = at + size
      align = Math.max(align, elem.align)
    }
    return {size: offset, align}
  }

  private alignOf(spec: FieldSpec): number {
    if (isUnion(spec)) return Math.max(1, ...spec.union.map((m) => this.alignOf(m)))
    const type = spec[1]
    return typeof type === 'string' ? SCALARS[type].align : type.align
  }

  encode(values: Record<string, unknown> = {}): Buffer {
    return this.encodeInto(Buffer.alloc(this.size), values)
  }

  encodeInto(buf: Buffer, values: Record<string, unknown> = {}, offset = 0): Buffer {
    this.check(buf, offset)
    buf.fill(0, offset, offset + this.size)
    this.byName ??= new Map(this.leaves.map((l) => [l.name, l]))
    const known = this.byName
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) continue
      const leaf = known.get(name)
      if (!leaf) throw new Error(`struct ${this.name} has no member ${name} to encode`)
      if (leaf.count === undefined) {
        writeScalar(buf, offset + leaf.offset, leaf.type, value, `${this.name}.${name}`)
        continue
      }
      if (!Array.isArray(value) || value.length > leaf.count)
        throw new RangeError(`${this.name}.${name} takes a list of at most ${leaf.count} values`)
      const step = SCALARS[leaf.type].size
      value.forEach((v: unknown, i) =>
        writeScalar(buf, offset + leaf.offset + i * step, leaf.type, v, `${this.name}.${name}[${i}]`),
      )
    }
    if (this.sizeField && values[this.sizeField] === undefined)
      buf.writeUInt32LE(this.size, offset + this.fields[this.sizeField]!.offset)
    return buf
  }

  encodeSized(values: Record<string, unknown>, size: number, tail = 0): Buffer {
    if (!this.sizeField) throw new Error(`struct ${this.name} has no size or argsz member`)
    const buf = Buffer.alloc(Math.max(size, this.size), tail)
    this.encodeInto(buf, {...values, [this.sizeField]: values[this.sizeField] ?? size})
    return buf
  }

  decode(buf: Buffer, offset = 0): Record<string, number | bigint | (number | bigint)[]> {
    this.check(buf, offset)
    const out: Record<string, number | bigint | (number | bigint)[]> = {}
    for (const leaf of this.leaves) {
      if (leaf.count === undefined) {
        out[leaf.name] = readScalar(buf, offset + leaf.offset, leaf.type)
        continue
      }
      const step = SCALARS[leaf.type].size
      out[leaf.name] = Array.from({length: leaf.count}, (_, i) =>
        readScalar(buf, offset + leaf.offset + i * step, leaf.type),
      )
    }
    return out
  }

  encodeArray(list: readonly Record<string, unknown>[]): Buffer {
    const buf = Buffer.alloc(list.length * this.size)
    list.forEach((values, i) => this.encodeInto(buf, values, i * this.size))
    return buf
  }

  decodeArray(
    buf: Buffer,
    count: number,
    offset = 0,
  ): Record<string, number | bigint | (number | bigint)[]>[] {
    return Array.from({length: count}, (_, i) => this.decode(buf, offset + i * this.size))
  }

  offsetOfEnd(member: string): number {
    const f = this.fields[member]
    if (!f) throw new Error(`struct ${this.name} has no member ${member}`)
    return f.offset + f.size
  }

  private check(buf: Buffer, offset: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + this.size > buf.length)
      throw new RangeError(
        `struct ${this.name} (${this.size} bytes) does not fit at offset ${offset} of a ${buf.length}-byte buffer`,
      )
  }
}

function writeScalar(buf: Buffer, at: number, type: ScalarType, value: unknown, what: string): void {
  if (typeof value !== 'number' && typeof value !== 'bigint')
    throw new TypeError(`${what}: expected a number or bigint, got ${typeof value}`)
  if (typeof value === 'number' && !Number.isInteger(value))
    throw new RangeError(`${what}: ${value} is not an integer`)
  const {size, signed} = SCALARS[type]
  if (size === 8) {
    const v = BigInt(value)
    if (signed) buf.writeBigInt64LE(v, at)
    else buf.writeBigUInt64LE(v, at)
    return
  }
  const v = Number(value)
  const bits = size * 8
  const min = signed ? -(2 ** (bits - 1)) : 0
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1
  if (v < min || v > max) throw new RangeError(`${what}: ${value} does not fit in ${type}`)
  if (signed) buf.writeIntLE(v, at, size)
  else buf.writeUIntLE(v, at, size)
}

function readScalar(buf: Buffer, at: number, type: ScalarType): number | bigint {
  const {size, signed} = SCALARS[type]
  if (size === 8) return signed ? buf.readBigInt64LE(at) : buf.readBigUInt64LE(at)
  return signed ? buf.readIntLE(at, size) : buf.readUIntLE(at, size)
}

/**
 * Defines a struct from its C member list, in C order:
 *
 *     export const iommu_destroy = defineStruct('iommu_destroy', [['size', 'u32'], ['id', 'u32']])
 *     iommu_destroy.encode({id: 7})            // 8 bytes: size = 8, id = 7
 *     iommu_destroy.decode(buf).id             // number
 *
 * (NoInfer: a call nested in another's field list must not have L inferred back from the
 * contextual FieldSpec type, which sends tsc into excessively deep instantiation.)
 */
export function defineStruct<const L extends readonly FieldSpec[]>(
  name: string,
  fields: L,
): NoInfer<Struct<ValuesOf<L>, Name<L[number]>>> {
  return new StructLayout(name, fields) as unknown as Struct<ValuesOf<L>, Name<L[number]>>
}

/** An anonymous struct, for a member of a union or struct that has no tag of its own. */
export function anonymousStruct<const L extends readonly FieldSpec[]>(
  fields: L,
): NoInfer<Struct<ValuesOf<L>, Name<L[number]>>> {
  return defineStruct('', fields)
}

/** The kernel's _IO(type, nr): no direction and no size, as iommufd and VFIO use. */
export function _IO(type: number, nr: number): number {
  return (type << 8) | nr
}
