/**
 * String types of the JSON contract. Their @pattern tags go into the generated schemas
 * (scripts/schemas.js), so the tests check the format of real output, not only its shape.
 */

/**
 * A PCI address, domain:bus:device.function in lowercase hex.
 * @pattern ^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$
 */
export type Bdf = string

/**
 * A mediated device's UUID, lowercase, as the kernel names the mdev (mdev_device_create: "%pUl").
 * @pattern ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$
 */
export type MdevUuid = string

/**
 * An mdev type's directory name, "<driver>-<type>" (mtty-2, nvidia-35), or a parent's device name.
 * @pattern ^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,99}$
 */
export type MdevName = string

/**
 * A register, address, id or IOVA: "0x" and lowercase hex digits.
 * @pattern ^0x[0-9a-f]+$
 */
export type Hex = string

/** A number as the JSON contract writes registers and addresses: "0x" and lowercase hex. */
export const hex = (v: bigint | number): Hex => `0x${v.toString(16)}`

/** The same, padded to `digits` hex digits, for fields of a fixed width (ids, class codes). */
export const hexWidth = (v: bigint | number, digits: number): Hex =>
  `0x${v.toString(16).padStart(digits, '0')}`

/** A PCI address from its parts: the one place a Bdf is written. */
export function bdf(segment: number, bus: number, device: number, fn: number): Bdf {
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0')
  return `${h(segment, 4)}:${h(bus, 2)}:${h(device, 2)}.${fn}`
}

/** A PCI requester ID (bus << 8 | device << 3 | function) in a segment, as a Bdf. */
export const ridBdf = (segment: number, rid: number): Bdf =>
  bdf(segment, rid >> 8, (rid >> 3) & 0x1f, rid & 7)
