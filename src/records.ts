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
 * A register, address, id or IOVA: "0x" and lowercase hex digits.
 * @pattern ^0x[0-9a-f]+$
 */
export type Hex = string

/** A number as the JSON contract writes registers and addresses: "0x" and lowercase hex. */
export const hex = (v: bigint | number): Hex => `0x${v.toString(16)}`
