// The ACPI system description table header (ACPI spec 5.2.6; ACPICA's struct acpi_table_header
// in include/acpi/actbl.h) and the bounds checks every table decoder here shares. Tables come
// from a snapshot anyone may have made: every read is checked against the bytes there are, and
// a problem is named and decoding stops where the bytes stop being sound.

import {hex, Hex} from '../records.js'

/** The 36-byte header every ACPI table starts with. */
export interface AcpiHeader {
  signature: string
  /** The table length the header claims, in bytes. */
  length: number
  revision: number
  /** The checksum byte as stored. */
  checksum: number
  /** Whether all `length` bytes sum to zero modulo 256, as the spec requires. */
  checksumValid: boolean
  oemId: string
  oemTableId: string
  oemRevision: Hex
  creatorId: string
  creatorRevision: Hex
}

export const ACPI_HEADER_LENGTH = 36

/**
 * The header and the bytes the table really has: the claimed length cut to what was read.
 * Null when there are not even 36 bytes. Problems are pushed onto problems, never thrown.
 */
export function decodeAcpiHeader(
  bytes: Buffer,
  problems: string[],
): {header: AcpiHeader; body: Buffer} | null {
  if (bytes.length < ACPI_HEADER_LENGTH) {
    problems.push(
      `short table: ${bytes.length} bytes, fewer than the ${ACPI_HEADER_LENGTH} of the ACPI header`,
    )
    return null
  }
  const length = bytes.readUInt32LE(4)
  let end = length
  if (length < ACPI_HEADER_LENGTH) {
    problems.push(
      `the header's length ${length} is shorter than the header itself; using the ${bytes.length} bytes read`,
    )
    end = bytes.length
  } else if (length > bytes.length) {
    problems.push(
      `the header says ${length} bytes but the table has ${bytes.length}: decoded as far as it goes`,
    )
    end = bytes.length
  } else if (length < bytes.length) {
    problems.push(`${bytes.length - length} bytes past the header's length ${length} are ignored`)
  }
  const body = bytes.subarray(0, end)
  let sum = 0
  for (const b of body) sum = (sum + b) & 0xff
  const checksumValid = sum === 0 && end === length
  if (sum !== 0) problems.push(`bad checksum: the bytes sum to 0x${sum.toString(16)} modulo 256, not 0`)
  return {
    header: {
      signature: text(bytes, 0, 4),
      length,
      revision: bytes.readUInt8(8),
      checksum: bytes.readUInt8(9),
      checksumValid,
      oemId: text(bytes, 10, 6),
      oemTableId: text(bytes, 16, 8),
      oemRevision: hex(bytes.readUInt32LE(24)),
      creatorId: text(bytes, 28, 4),
      creatorRevision: hex(bytes.readUInt32LE(32)),
    },
    body,
  }
}

/** A fixed-width ASCII field: up to the first NUL, anything unprintable as '?'. */
export function text(bytes: Buffer, offset: number, width: number): string {
  const raw = bytes.subarray(offset, Math.min(offset + width, bytes.length))
  const nul = raw.indexOf(0)
  return [...(nul === -1 ? raw : raw.subarray(0, nul))]
    .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '?'))
    .join('')
}

/** A 64-bit little-endian field as "0x..." (records hold no bigint). */
export function hex64(bytes: Buffer, offset: number): Hex {
  return hex(bytes.readBigUInt64LE(offset))
}

/**
 * Walks type-length records from start to the end of bytes, as the kernel's table walkers do
 * (dmar_walk_remapping_entries, init.c's IVRS loops): a record shorter than its own header or
 * running past the end stops the walk with the problem named, so a damaged length can neither
 * loop nor read outside the table.
 */
export function walkRecords(
  bytes: Buffer,
  start: number,
  what: string,
  headerLength: number,
  lengthOf: (offset: number) => number,
  problems: string[],
  visit: (offset: number, length: number) => void,
): void {
  let offset = start
  while (offset < bytes.length) {
    if (offset + headerLength > bytes.length) {
      problems.push(
        `${bytes.length - offset} bytes at offset ${hexOffset(offset)} are too few for a ${what} header`,
      )
      return
    }
    const length = lengthOf(offset)
    if (length < headerLength) {
      problems.push(
        `${what} at offset ${hexOffset(offset)} has length ${length}, shorter than its header: the rest is not decoded`,
      )
      return
    }
    if (offset + length > bytes.length) {
      problems.push(
        `${what} at offset ${hexOffset(offset)} claims ${length} bytes, past the end of the table (${bytes.length - offset} left): the rest is not decoded`,
      )
      return
    }
    visit(offset, length)
    offset += length
  }
}

export function hexOffset(offset: number): string {
  return `0x${offset.toString(16)}`
}
