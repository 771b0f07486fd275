// A 64-bit IOMMU register (VT-d cap/ecap, AMD-Vi EFR/EFR2) as sysfs prints it, and its fields
// by the bit numbers of the specifications, the one reading the VT-d and AMD-Vi decoders share.

import {hex, Hex} from '../records.js'

/** Bit n of reg. */
export function bit(reg: bigint, n: number): boolean {
  return ((reg >> BigInt(n)) & 1n) === 1n
}

/** The width-bit field of reg starting at bit lo. */
export function field(reg: bigint, lo: number, width: number): number {
  return Number((reg >> BigInt(lo)) & ((1n << BigInt(width)) - 1n))
}

/**
 * A register as the kernel prints it ("%x", "%llx": hex digits, no 0x), or null when it is absent,
 * not hex, or wider than bits.
 */
export function parseRegister(text: string | null | undefined, bits: bigint): bigint | null {
  const t = text?.trim()
  if (!t || !/^[0-9a-f]+$/i.test(t)) return null
  const value = BigInt(`0x${t}`)
  return value >> bits ? null : value
}

/** A parsed register in the JSON contract's form, null staying null. */
export function registerHex(value: bigint | null): Hex | null {
  return value === null ? null : hex(value)
}
