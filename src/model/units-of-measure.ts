import {ExitCode, IommuctlError} from '../errors.js'

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const

/** 2097152 -> "2 MiB"; whole numbers where exact, one decimal otherwise. */
export function formatBytes(bytes: number): string {
  let value = bytes
  let i = 0
  while (value >= 1024 && i < UNITS.length - 1 && value % 1024 === 0) {
    value /= 1024
    i++
  }
  while (value >= 1024 && i < UNITS.length - 1) {
    value /= 1024
    i++
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${UNITS[i]}`
}

/**
 * The one grammar of sizes, for every flag and plan field that takes one: an integer of bytes,
 * optionally with K, M, G or T (binary multiples: 2M is 2 MiB) and then optionally iB. Exact
 * values only (no fractions), below 2^64. Kept in step with the Size pattern of src/session/plan.ts.
 */
export const SIZE_PATTERN = /^([0-9]{1,20})(?:([KMGT])(?:iB)?)?$/
export const SIZE_GRAMMAR = 'an integer of bytes, optionally with K, M, G or T (binary: 2M is 2 MiB) and iB'
const SHIFT: Record<string, bigint> = {K: 10n, M: 20n, G: 30n, T: 40n}
export const MAX_U64 = (1n << 64n) - 1n

/** "16G", "512MiB", "4096" -> bytes; throws an Error saying why when it is not a size. */
export function parseSize(text: string): bigint {
  const m = SIZE_PATTERN.exec(text)
  if (!m) throw new Error(`${JSON.stringify(text)} is not a size: ${SIZE_GRAMMAR}`)
  const bytes = BigInt(m[1]!) << (m[2] ? SHIFT[m[2]]! : 0n)
  if (bytes > MAX_U64) throw new Error(`${text} is 2^64 bytes or more`)
  return bytes
}

/** A size given on the command line (--max-pinned, --vm-memory, a SIZE argument): a usage error names it. */
export function sizeArgument(name: string, text: string): bigint {
  try {
    return parseSize(text)
  } catch (error) {
    throw new IommuctlError('BAD_SIZE', `${name}: ${(error as Error).message}.`, {
      exit: ExitCode.usage,
      suggestion: 'e.g. 4096, 64K, 512M, 2GiB or 1T.',
    })
  }
}
