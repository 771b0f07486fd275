import {decodeConfigSpace, PciConfig} from '../decode/pcie.js'
import {listPciDevices} from '../sysfs/inventory.js'
import {
  PciBriefSysfs,
  PciDeviceSysfs,
  PciPlacementSysfs,
  readPciBrief,
  readPciDevice,
  readPciPlacement,
} from '../sysfs/pci.js'
import {Root} from '../sysfs/root.js'

/** A PCI device with its config space decoded, read once and shared by the group and device models. */
export interface PciNode {
  sysfs: PciDeviceSysfs
  config: PciConfig | null
}

/** Where a device sits and its decoded config space: what explaining a shared group needs. */
export interface PciPlacement {
  sysfs: PciPlacementSysfs
  config: PciConfig | null
}

/** Every PCI device under a root, by BDF, read lazily and once. */
export class PciTopology {
  private readonly cache = new Map<string, PciNode | null>()

  constructor(readonly root: Root) {}

  /**
   * The ids and driver of a device: the full read when there is one already, a light one
   * otherwise. Not cached: each device is in one group, so its brief is asked for once, and
   * thousands of kept briefs would only make work for the garbage collector.
   */
  brief(bdf: string): PciBriefSysfs | null {
    const full = this.cache.get(bdf)
    return full !== undefined ? (full?.sysfs ?? null) : readPciBrief(this.root, bdf)
  }

  private readonly placements = new Map<string, PciPlacement | null>()

  /** Where a device sits and its config space: the full read when there is one already, a light one otherwise. */
  placement(bdf: string): PciPlacement | null {
    const full = this.cache.get(bdf)
    if (full !== undefined) return full
    if (!this.placements.has(bdf)) {
      const sysfs = readPciPlacement(this.root, bdf)
      this.placements.set(bdf, sysfs && {sysfs, config: decodeConfig(sysfs.config)})
    }
    return this.placements.get(bdf) ?? null
  }

  bdfs(): string[] {
    return listPciDevices(this.root)
  }

  get(bdf: string): PciNode | null {
    if (!this.cache.has(bdf)) this.cache.set(bdf, this.read(bdf))
    return this.cache.get(bdf) ?? null
  }

  /**
   * Like get, but a device not read yet is read without being kept. A single pass over every
   * device (`devices`) uses it: thousands of cached nodes would survive into the old generation
   * and cost the garbage collector some 50 ms at 8000 devices (bench/inspect.js).
   */
  once(bdf: string): PciNode | null {
    return this.cache.has(bdf) ? (this.cache.get(bdf) ?? null) : this.read(bdf)
  }

  private read(bdf: string): PciNode | null {
    const sysfs = readPciDevice(this.root, bdf)
    return sysfs && {sysfs, config: decodeConfig(sysfs.config)}
  }

  isBridge(node: PciNode): boolean {
    return node.sysfs.classCode !== null && node.sysfs.classCode >> 8 === PCI_CLASS_BRIDGE_PCI
  }
}

/** Every reader gets at least the 64-byte header; less means a damaged or foreign tree. */
function decodeConfig(bytes: Buffer | null): PciConfig | null {
  return bytes && bytes.length >= 64 ? decodeConfigSpace(bytes) : null
}

/** PCI-to-PCI bridge class (base 0x06, sub 0x04), as include/linux/pci_ids.h has it. */
export const PCI_CLASS_BRIDGE_PCI = 0x0604

/** The ACS controls the kernel requires for isolation (drivers/iommu/iommu.c REQ_ACS_FLAGS). */
export const REQ_ACS = ['sv', 'rr', 'cr', 'uf'] as const

export type AcsVerdict =
  {isolated: true} | {isolated: false; missing: string[]} | {isolated: null; why: string}

/**
 * Whether a device isolates peer-to-peer traffic as drivers/pci/pci.c pci_acs_enabled() decides
 * (without the per-device quirks the kernel also applies).
 */
export function acsEnabled(node: {config: PciConfig | null}): AcsVerdict {
  const cfg = node.config
  if (!cfg || !cfg.complete)
    return {isolated: null, why: 'ACS is in extended config space, which only root can read'}
  const express = cfg.express
  if (!express) return {isolated: false, missing: ['conventional PCI: a shared bus has no ACS']}
  switch (express.type) {
    case 'pcie-to-pci-bridge':
    case 'pci-to-pcie-bridge':
    case 'rc-event-collector':
      return {isolated: false, missing: [`a ${express.type.replace(/-/g, ' ')} never has ACS`]}
    case 'root-port':
    case 'downstream-port':
      return acsFlags(cfg)
    default:
      return cfg.multifunction ? acsFlags(cfg) : {isolated: true}
  }
}

/** pci_acs_flags_enabled(): flags the device does not implement count as hard-wired on. */
function acsFlags(cfg: PciConfig): AcsVerdict {
  if (!cfg.acs) return {isolated: false, missing: ['no ACS capability']}
  const acs = cfg.acs
  const missing = REQ_ACS.filter((f) => acs.capabilities[f] && !acs.control[f])
  return missing.length === 0
    ? {isolated: true}
    : {isolated: false, missing: missing.map((f) => `${ACS_NAMES[f]} off`)}
}

export const ACS_NAMES: Record<string, string> = {
  sv: 'SrcValid',
  tb: 'TransBlk',
  rr: 'ReqRedir',
  cr: 'CmpltRedir',
  uf: 'UpstreamFwd',
  ec: 'EgressCtrl',
  dt: 'DirectTrans',
}
