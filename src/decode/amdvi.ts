// Decodes AMD-Vi Extended Feature registers (EFR, EFR2) as drivers/iommu/amd/amd_iommu_types.h
// defines them (FEATURE_*), from the text drivers/iommu/amd/init.c prints under
// /sys/class/iommu/ivhdN/amd-iommu/. That header names only the fields the driver uses; the
// rest come from the EFR layout of the AMD IOMMU specification (48882, MMIO offset 0030h), and
// their comments say "spec".

import {hex, Hex} from '../records.js'
import {bit, field, parseRegister, registerHex} from './register.js'
import type {UnitFeatures} from './unit-features.js'
/** EFR and EFR2 fields, named in lowerCamelCase after the spec's mnemonics. */
export interface AmdViFeatures {
  /** PREFETCH_IOMMU_PAGES command (EFR 0, FEATURE_PREFETCH). */
  prefSup: boolean
  /** Peripheral page requests (EFR 1, FEATURE_PPR). */
  pprSup: boolean
  /** x2APIC interrupts (EFR 2, FEATURE_X2APIC; spec XTSup). */
  x2apicSup: boolean
  /** No-execute protection (EFR 3, FEATURE_NX). */
  nxSup: boolean
  /** Guest (v2) page-table translation (EFR 4, FEATURE_GT). */
  gtSup: boolean
  // EFR 5 has no field: amd_iommu_types.h defines nothing there and init.c prints it as "[5]".
  // Xen and other hypervisors' headers call it GAPPISup; nothing in Linux reads it.
  /** INVALIDATE_IOMMU_ALL command (EFR 6, FEATURE_IA). */
  iaSup: boolean
  /** Guest virtual APIC, i.e. GA-mode interrupt remapping (EFR 7, FEATURE_GA). */
  gaSup: boolean
  /** Hardware error registers (EFR 8, FEATURE_HE). */
  heSup: boolean
  /** Performance counters (EFR 9, FEATURE_PC). */
  pcSup: boolean
  /** Host (v1) page-table levels, from HATS (EFR 11:10); null for 11b, which the kernel rejects. */
  hats: number | null
  /** Guest (v2) page-table levels, from GATS (EFR 13:12); null where the kernel knows no depth. */
  gats: number | null
  /** GCR3 table levels, from GLXSup (EFR 15:14, plus one as DTE.GLX encodes them). */
  glxSup: number
  /** SMI filter support, the raw SmiFSup encoding (spec, EFR 17:16; 01b = supported). */
  smifSup: number
  /** Number of SMI filter registers, 2^SmiFRC (spec, EFR 20:18). */
  smifRc: number
  /** Guest virtual-APIC modes, the raw GAMSup encoding (EFR 23:21; 001b = vAPIC). */
  gamSup: number
  /** Dual PPR log support, the raw DualPprLogSup encoding (spec, EFR 25:24). */
  dualPprLogSup: number
  /** Dual event log support, the raw DualEventLogSup encoding (spec, EFR 29:28). */
  dualEventLogSup: number
  /** Secure ATS (spec, EFR 31). */
  satsSup: boolean
  /** PASID width in bits (EFR 36:32, plus one: the kernel allows 2^(PASmax+1) - 1 PASIDs). */
  pasMax: number
  /** User/supervisor page protection (spec, EFR 37). */
  usSup: boolean
  /** Number of device-table segments, 2^DevTblSegSup (spec, EFR 39:38). */
  devTblSegSup: number
  /** PPR log overflow early warning (spec, EFR 40). */
  pprOvrflwEarlySup: boolean
  /** PPR automatic response (spec, EFR 41). */
  pprAutoRspSup: boolean
  /** Memory access routing and control, the raw MarcSup encoding (spec, EFR 43:42). */
  marcSup: number
  /** Block StopMark message (spec, EFR 44). */
  blkStopMrkSup: boolean
  /** Performance optimisation (spec, EFR 45). */
  perfOptSup: boolean
  /** MSI capability registers writable through MMIO (EFR 46, IOMMU_EFR_MSICAPMMIOSUP_SHIFT). */
  msiCapMmioSup: boolean
  /** Guest I/O protection (EFR 48, FEATURE_GIOSUP). */
  gioSup: boolean
  /** Host access (EFR 49, FEATURE_HASUP). */
  haSup: boolean
  /** Enhanced PPR handling (EFR 50, FEATURE_EPHSUP). */
  ephSup: boolean
  /** Attribute forwarding (spec, EFR 51). */
  attrFwSup: boolean
  /** Host dirty tracking (EFR 52, FEATURE_HDSUP). */
  hdSup: boolean
  /** INVALIDATE_IOTLB type field (spec, EFR 54). */
  invIotlbTypeSup: boolean
  /** Virtualised IOMMU (spec, EFR 55). */
  vIommuSup: boolean
  /** Disabling hardware updates of guest page tables (spec, EFR 61). */
  gaUpdateDisSup: boolean
  /** Forcing physical destination mode for remapped interrupts (spec, EFR 62). */
  forcePhyDestSup: boolean
  /** SEV-SNP (EFR 63, FEATURE_SNP). */
  snpSup: boolean
  /** SEV-TIO (EFR2 1, FEATURE_SEVSNPIO_SUP). */
  sevSnpIoSup: boolean
  /** GCR3 table root pointer mode (EFR2 3, FEATURE_GCR3TRPMODE). */
  gcr3TrpModeSup: boolean
  /** SNP vAPIC support, the raw encoding (EFR2 7:5, FEATURE_SNPAVICSUP; 001b = with GAM). */
  snpAvicSup: number
  /** Interrupts per remapping table (EFR2 9:8, FEATURE_NUM_INT_REMAP_SUP); null if reserved. */
  numIntRemapSup: number | null
  /** HyperTransport range ignored (EFR2 11, FEATURE_HT_RANGE_IGNORE). */
  htRangeIgnore: boolean
}

/** An AMD-Vi unit's registers: as sysfs shows them, decoded, and in one line. */
export interface AmdViRegisters {
  /** IOMMU capability header from PCI config space, "0x...". */
  cap: Hex | null
  /** Extended Feature Register, "0x...". */
  efr: Hex | null
  /** Extended Feature 2 Register, "0x...". */
  efr2: Hex | null
  features: AmdViFeatures | null
  /** The feature names the kernel prints at boot for these registers, in its order. */
  bootLine: string | null
  summary: string
}

export function decodeAmdViEfr(efr: bigint, efr2: bigint): AmdViFeatures {
  const hats = field(efr, 10, 2)
  const gats = field(efr, 12, 2)
  const numIntRemap = field(efr2, 8, 2)
  return {
    prefSup: bit(efr, 0),
    pprSup: bit(efr, 1),
    x2apicSup: bit(efr, 2),
    nxSup: bit(efr, 3),
    gtSup: bit(efr, 4),
    iaSup: bit(efr, 6),
    gaSup: bit(efr, 7),
    heSup: bit(efr, 8),
    pcSup: bit(efr, 9),
    // init.c sizes the host address space from HATS + PAGE_MODE_4_LEVEL and turns host
    // translation off for 11b.
    hats: hats === 3 ? null : hats + 4,
    // The kernel knows GATS 00b (GUEST_PGTABLE_4_LEVEL) and 01b (GUEST_PGTABLE_5_LEVEL) only.
    gats: gats <= 1 ? gats + 4 : null,
    glxSup: field(efr, 14, 2) + 1,
    smifSup: field(efr, 16, 2),
    smifRc: 2 ** field(efr, 18, 3),
    gamSup: field(efr, 21, 3),
    dualPprLogSup: field(efr, 24, 2),
    dualEventLogSup: field(efr, 28, 2),
    satsSup: bit(efr, 31),
    pasMax: field(efr, 32, 5) + 1,
    usSup: bit(efr, 37),
    devTblSegSup: 2 ** field(efr, 38, 2),
    pprOvrflwEarlySup: bit(efr, 40),
    pprAutoRspSup: bit(efr, 41),
    marcSup: field(efr, 42, 2),
    blkStopMrkSup: bit(efr, 44),
    perfOptSup: bit(efr, 45),
    msiCapMmioSup: bit(efr, 46),
    gioSup: bit(efr, 48),
    haSup: bit(efr, 49),
    ephSup: bit(efr, 50),
    attrFwSup: bit(efr, 51),
    hdSup: bit(efr, 52),
    invIotlbTypeSup: bit(efr, 54),
    vIommuSup: bit(efr, 55),
    gaUpdateDisSup: bit(efr, 61),
    forcePhyDestSup: bit(efr, 62),
    snpSup: bit(efr, 63),
    sevSnpIoSup: bit(efr2, 1),
    gcr3TrpModeSup: bit(efr2, 3),
    snpAvicSup: field(efr2, 5, 3),
    // 00b is the 512 entries every unit has (MAX_IRQS_PER_TABLE_512); 01b is the 2K mode.
    numIntRemapSup: numIntRemap === 0 ? 512 : numIntRemap === 1 ? 2048 : null,
    htRangeIgnore: bit(efr2, 11),
  }
}

// init.c's feat_str[], indexed by EFR bit.
const BOOT_NAMES = ['PreF', 'PPR', 'X2APIC', 'NX', 'GT', '[5]', 'IA', 'GA', 'HE', 'PC']

/**
 * The names init.c prints after "AMD-Vi: Extended features (EFR, EFR2):"; null when EFR is
 * zero, because the kernel then prints no such line.
 */
export function amdViBootLine(efr: bigint, efr2: bigint): string | null {
  if (efr === 0n) return null
  const names = BOOT_NAMES.filter((_, n) => bit(efr, n))
  // The kernel tests single bits here, not whole fields: FEATURE_GAM_VAPIC is GAMSup's low bit.
  if (bit(efr, 21)) names.push('GA_vAPIC')
  if (bit(efr, 63)) names.push('SNP')
  if (bit(efr2, 1)) names.push('SEV-TIO')
  return names.join(' ')
}

/**
 * What an AMD-Vi unit offers: PASIDs and nesting come with guest (v2) translation, the first
 * stage of the unit's two (init.c reads PASmax only when FEATURE_GT is there); dirty tracking
 * is FEATURE_HDSUP; every AMD-Vi unit remaps interrupts.
 */
export function amdViUnitFeatures(f: AmdViFeatures): UnitFeatures {
  return {
    scalableMode: null,
    pasid: f.gtSup,
    nesting: f.gtSup,
    dirtyTracking: f.hdSup,
    interruptRemapping: true,
  }
}

/** One human line: what a user chooses an AMD-Vi unit for. */
export function amdViSummary(f: AmdViFeatures): string {
  const uses = amdViUnitFeatures(f)
  const parts = [f.hats === null ? 'no host translation' : `${f.hats}-level host tables`]
  if (f.gtSup) parts.push(f.gats === null ? 'guest translation' : `${f.gats}-level guest translation`)
  if (uses.pasid) parts.push(`${f.pasMax}-bit PASID`)
  if (f.pprSup) parts.push('PPR')
  if (uses.dirtyTracking) parts.push('dirty tracking')
  if (f.gaSup) parts.push('GA interrupt remapping')
  if (f.x2apicSup) parts.push('x2APIC')
  if (f.vIommuSup) parts.push('vIOMMU')
  if (f.snpSup) parts.push('SNP')
  return parts.join(', ')
}

export function parseAmdViRegisters(files: {cap: string | null; features: string | null}): AmdViRegisters {
  // cap is "%x" of a u32; features is "%llx:%llx" of the kernel's EFR and EFR2, which init.c
  // keeps system-wide, so every unit shows the same pair.
  const cap = registerHex(parseRegister(files.cap, 32n))
  const [efrText, efr2Text, ...rest] = files.features?.trim().split(':') ?? []
  const efr = parseRegister(efrText, 64n)
  const efr2 = parseRegister(efr2Text, 64n)
  if (efr === null || efr2 === null || rest.length) {
    const summary = 'capabilities unknown: features unreadable'
    return {cap, efr: null, efr2: null, features: null, bootLine: null, summary}
  }
  const features = decodeAmdViEfr(efr, efr2)
  return {
    cap,
    efr: hex(efr),
    efr2: hex(efr2),
    features,
    bootLine: amdViBootLine(efr, efr2),
    summary: amdViSummary(features),
  }
}

/**
 * A register as a unit's debugfs mmio or capability file prints it once its offset is written
 * (drivers/iommu/amd/debugfs.c): "Offset:0x18 Value:0x000c22000003f48d".
 */
export function parseAmdDebugfsRegister(text: string): {offset: number; value: bigint} | {note: string} {
  const t = text.trim()
  const m = /^Offset:0x([0-9a-f]{1,8}) Value:0x([0-9a-f]{1,16})$/.exec(t)
  if (m) return {offset: parseInt(m[1]!, 16), value: BigInt(`0x${m[2]}`)}
  return {
    note: t.startsWith('Please provide')
      ? 'no offset was chosen when it was read'
      : `not in the format of Linux 7.2: ${JSON.stringify(t.slice(0, 120))}`,
  }
}

/** The MMIO Control Register (offset 0x18), by the bits amd_iommu_types.h names CONTROL_*. */
export interface AmdViControl {
  /** IommuEn (0): the unit translates. */
  iommuEnabled: boolean
  /** EventLogEn (2) and EventIntEn (3). */
  eventLog: boolean
  eventInterrupt: boolean
  /** CmdBufEn (12): the command buffer (its invalidation queue) runs. */
  commandBuffer: boolean
  /** PPRLogEn (13), PPREn (15): peripheral page requests. */
  pprLog: boolean
  ppr: boolean
  /** GTEn (16): guest (v2) translation. */
  guestTranslation: boolean
  /** GAEn (17): guest virtual APIC interrupt remapping. */
  guestVapic: boolean
  /** XTEn (50): x2APIC interrupts. */
  x2apic: boolean
}

export function decodeAmdViControl(v: bigint): AmdViControl {
  return {
    iommuEnabled: bit(v, 0),
    eventLog: bit(v, 2),
    eventInterrupt: bit(v, 3),
    commandBuffer: bit(v, 12),
    pprLog: bit(v, 13),
    ppr: bit(v, 15),
    guestTranslation: bit(v, 16),
    guestVapic: bit(v, 17),
    x2apic: bit(v, 50),
  }
}

/** The MMIO Status Register (offset 0x2020), by the bits amd_iommu_types.h names MMIO_STATUS_*. */
export interface AmdViStatus {
  /** EventOverflow (0): events were lost. */
  eventOverflow: boolean
  eventInterrupt: boolean
  comWaitInterrupt: boolean
  /** EventLogRun (3), CmdBufRun (4). */
  eventLogRunning: boolean
  commandBufferRunning: boolean
  /** PprOverflow (5): page requests were lost. */
  pprOverflow: boolean
  pprInterrupt: boolean
  pprLogRunning: boolean
  gaLogRunning: boolean
  gaLogOverflow: boolean
}

export function decodeAmdViStatus(v: bigint): AmdViStatus {
  return {
    eventOverflow: bit(v, 0),
    eventInterrupt: bit(v, 1),
    comWaitInterrupt: bit(v, 2),
    eventLogRunning: bit(v, 3),
    commandBufferRunning: bit(v, 4),
    pprOverflow: bit(v, 5),
    pprInterrupt: bit(v, 6),
    pprLogRunning: bit(v, 7),
    gaLogRunning: bit(v, 8),
    gaLogOverflow: bit(v, 9),
  }
}
