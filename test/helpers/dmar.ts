// ACPI DMAR tables built from the Intel VT-d specification's field layout (chapter 8 "BIOS
// Considerations": the 48-byte DMAR header, DRHD type 0, RMRR type 1, device scope entries),
// for tests that need a structure no captured table has (QEMU's intel-iommu makes no RMRR).

/**
 * An endpoint device scope entry (8.3.1): type 1, length, reserved, enumeration id, start bus,
 * then the path, one (device, function) pair per step through the bridges.
 */
export function endpointScope(bus: number, ...path: [number, number][]): Buffer {
  return Buffer.from([1, 6 + 2 * path.length, 0, 0, 0, bus, ...path.flat()])
}

/** DRHD (8.3): type 0, flags (bit 0 INCLUDE_PCI_ALL), segment, register base. */
export function drhd(registerBase: bigint, includePciAll = true): Buffer {
  const b = Buffer.alloc(16)
  b.writeUInt16LE(0, 0)
  b.writeUInt16LE(16, 2)
  b[4] = includePciAll ? 1 : 0
  b.writeBigUInt64LE(registerBase, 8)
  return b
}

/** RMRR (8.4): type 1, segment, base, limit (the last byte), then its device scopes. */
export function rmrr(base: bigint, limit: bigint, scopes: Buffer[]): Buffer {
  const head = Buffer.alloc(24)
  head.writeUInt16LE(1, 0)
  head.writeUInt16LE(24 + scopes.reduce((n, s) => n + s.length, 0), 2)
  head.writeBigUInt64LE(base, 8)
  head.writeBigUInt64LE(limit, 16)
  return Buffer.concat([head, ...scopes])
}

/** A structure of a type the specification does not define (kept, never dropped, by the decoder). */
export function unknownStructure(type: number, length = 8): Buffer {
  const b = Buffer.alloc(length)
  b.writeUInt16LE(type, 0)
  b.writeUInt16LE(length, 2)
  return b
}

/** The DMAR: the ACPI header (signature, length, revision 1, checksum), host address width, flags, structures. */
export function dmarTable(
  structures: Buffer[],
  opts: {hostAddressWidth?: number; flags?: number} = {},
): Buffer {
  const body = Buffer.concat([Buffer.alloc(48), ...structures])
  body.write('DMAR', 0, 'latin1')
  body.writeUInt32LE(body.length, 4)
  body[8] = 1
  body[36] = opts.hostAddressWidth ?? 38
  body[37] = opts.flags ?? 1
  let sum = 0
  for (const b of body) sum = (sum + b) & 0xff
  body[9] = (0x100 - sum) & 0xff
  return body
}
