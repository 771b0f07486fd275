// AMD-Vi device-table entries as CONFIG_AMD_IOMMU_DEBUGFS prints them (Linux 7.2,
// drivers/iommu/amd/debugfs.c): a device is chosen by writing its "SSSS:BB:DD.F" to
// /sys/kernel/debug/iommu/amd/devid, then devtbl prints a header and one line,
// "SSSS:BB:DD.F QWORD[3] QWORD[2] QWORD[1] QWORD[0] iommuN", each qword "%016llx". The bits are
// those of the AMD I/O Virtualization Technology (IOMMU) Specification (48882), "Device Table
// Entry", as drivers/iommu/amd/amd_iommu_types.h names them. Nothing in the text is trusted: the
// line is matched whole, and anything else is said, not guessed at.

import {hex, Hex} from '../records.js'
import {bit, field} from './register.js'

/** What the kernel prints in devtbl before its one line. */
const HEADER = /^DeviceId\s+QWORD\[3\]\s+QWORD\[2\]\s+QWORD\[1\]\s+QWORD\[0\]\s+iommu$/
const LINE =
  /^([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) ([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{16}) (iommu\d{1,4})$/

export interface DevtblLine {
  /** The device the kernel printed the entry for (devid's choice when it printed). */
  deviceId: string
  /** QWORD[0] to QWORD[3], bits 63:0 first. */
  qwords: [bigint, bigint, bigint, bigint]
  iommu: string
}

/**
 * devtbl's entry, or why there is none: the kernel prints "Enter a valid device ID to 'devid'
 * file" when none is chosen, and nothing for a device no unit translates.
 */
export function parseDevtbl(text: string): DevtblLine | {note: string} {
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  if (lines.length === 0) return {note: 'devtbl printed nothing: no IOMMU unit translates this device'}
  if (/^Enter a valid device ID/.test(lines[0]!))
    return {note: 'no device was chosen in devid when devtbl was read'}
  const m = lines.length === 2 && HEADER.test(lines[0]!) ? LINE.exec(lines[1]!.trim()) : null
  if (!m)
    return {
      note: `devtbl is not in the format of Linux 7.2: ${JSON.stringify(lines.slice(0, 2).join(' | ').slice(0, 200))}`,
    }
  const [, deviceId, q3, q2, q1, q0, iommu] = m
  return {
    deviceId: deviceId!,
    qwords: [q0, q1, q2, q3].map((q) => BigInt(`0x${q}`)) as DevtblLine['qwords'],
    iommu: iommu!,
  }
}

/** How the unit translates a device's DMA, by its DTE. */
export type AmdTranslation =
  'pass-through' | 'blocked' | 'v1-page-table' | 'v2-page-table' | 'nested' | 'unknown'

export interface AmdDte {
  /** V: the entry is valid; without it the unit passes DMA through untranslated. */
  valid: boolean
  /** TV: the translation fields are valid. */
  translationValid: boolean
  translation: AmdTranslation
  /** Mode (bits 11:9): levels of the host (v1) page table; 0 for none. */
  levels: number
  /** Input address width of the host page table: 12 + 9 per level, at most 64; null without one. */
  addressWidth: number | null
  /** Host page table root (bits 51:12); null without one. */
  pageTableRoot: Hex | null
  /** DomainID (bits 79:64): the unit's tag for the domain in its caches. */
  domainId: number
  /** IR and IW (bits 61, 62): DMA reads and writes allowed. */
  read: boolean
  write: boolean
  /** GV (bit 55): guest (v2) translation through the GCR3 table; GLX its levels (bits 57:56). */
  guestTranslation: boolean
  /** The GCR3 table root (bits 60:58, 95:80, 127:107 are its address bits 14:12, 30:15, 51:31); null without GV. */
  gcr3Root: Hex | null
  /** PPR (bit 52): peripheral page requests (PRI) enabled. */
  ppr: boolean
  /** I (bit 96): the device's IOTLB (ATS) is used. */
  iotlb: boolean
  /** IV (bit 128): interrupts remapped through a table of IntTabLen entries (bits 132:129, 2^N). */
  interruptRemap: {valid: boolean; entries: number | null; tableRoot: Hex | null}
}

/** A DTE's fields by the spec's bit positions; qwords are bits 63:0, 127:64, 191:128, 255:192. */
export function decodeDte(qwords: readonly [bigint, bigint, bigint, bigint]): AmdDte {
  const [q0, q1, q2] = qwords
  const valid = bit(q0, 0)
  const translationValid = bit(q0, 1)
  const mode = field(q0, 9, 3)
  const read = bit(q0, 61)
  const write = bit(q0, 62)
  const gv = bit(q0, 55)
  const levels = mode >= 1 && mode <= 6 ? mode : 0
  const gcr3 =
    (BigInt(field(q0, 58, 3)) << 12n) |
    (BigInt(field(q1, 16, 16)) << 15n) |
    (BigInt(field(q1, 43, 21)) << 31n)
  const translation: AmdTranslation =
    !valid || !translationValid
      ? 'pass-through'
      : mode === 7
        ? 'unknown'
        : !read && !write
          ? 'blocked'
          : gv
            ? levels
              ? 'nested'
              : 'v2-page-table'
            : levels
              ? 'v1-page-table'
              : 'pass-through'
  const iv = bit(q2, 0)
  return {
    valid,
    translationValid,
    translation,
    levels,
    addressWidth: levels ? Math.min(12 + 9 * levels, 64) : null,
    pageTableRoot: levels ? hex(q0 & 0x000f_ffff_ffff_f000n) : null,
    domainId: field(q1, 0, 16),
    read,
    write,
    guestTranslation: gv,
    gcr3Root: gv ? hex(gcr3) : null,
    ppr: bit(q0, 52),
    iotlb: bit(q1, 32),
    interruptRemap: {
      valid: iv,
      entries: iv ? 2 ** field(q2, 1, 4) : null,
      tableRoot: iv ? hex(q2 & 0x000f_ffff_ffff_ffc0n) : null,
    },
  }
}
