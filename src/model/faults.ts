import {DecodedFault, FaultDecoder, FaultVendor} from '../decode/faults.js'
import {atOrAfter, LogTime, parseLogLine} from '../decode/kernel-log.js'
import {bdf, Bdf, Hex} from '../records.js'
import {GROUPS_DIR} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'
import {DeviceBrief, briefDevice} from './devices.js'
import {parseReservedRegions, ReservedRegion} from './groups.js'
import {PciTopology} from './topology.js'

/** The device a fault names, as this root shows it. */
export interface FaultDevice {
  bdf: Bdf
  /** Whether the root has a PCI device at that address. */
  present: boolean
  brief: DeviceBrief
  group: number | null
  /** The group's default domain type (DMA, DMA-FQ, identity, blocked, unmanaged). */
  domainType: string | null
  reservedRegions: ReservedRegion[]
  /**
   * When the address is a bridge's, or the alias a PCIe-to-PCI bridge gives the devices behind
   * it (its secondary bus, device 0, function 0): the bridge and the devices behind it, any of
   * which may have made the request.
   */
  behindBridge: {bridge: Bdf; devices: Bdf[]} | null
}

/** One fault or event line (or multi-line record), decoded, with where and when it was logged. */
export interface FaultRecord extends DecodedFault {
  /** The input line it starts on (1-based). */
  line: number
  time: LogTime
  device: FaultDevice | null
  /** The reserved region of the device's group that holds the address, if one does. */
  inReservedRegion: ReservedRegion | null
}

/** What usually causes a kind of fault, and what to check next, in the user's terms. */
export interface FaultAdvice {
  cause: string
  check: string
}

/** Where and when one of a group's records was logged, and its address or interrupt index. */
export interface FaultSeen {
  line: number
  time: LogTime
  address: Hex | null
  index: Hex | null
}

/** What a group's records share: the fields of the decoded line that make its key. */
type FaultGroupKey = Pick<
  DecodedFault,
  'vendor' | 'kind' | 'requester' | 'bdf' | 'segmentAssumed' | 'unit' | 'driver' | 'streamId' | 'reason'
>

/** The repeats of one fault: one device (or unit or stream), one kind, one reason. */
export interface FaultGroup extends FaultGroupKey {
  accesses: ('read' | 'write')[]
  count: number
  first: FaultSeen
  last: FaultSeen
  /** Reserved regions of the device's group that held one of the addresses. */
  inReservedRegions: ReservedRegion[]
  device: FaultDevice | null
  advice: FaultAdvice
}

/** `iommuctl faults --json` */
export interface FaultsReport {
  /** Where the log came from: the live /dev/kmsg, the root's copy of it, a file, or stdin. */
  source: {kind: 'kmsg' | 'snapshot' | 'file' | 'stdin'; path: string | null}
  /** Lines read (after --since, counting every line). */
  lines: number
  /** Records in `records`: the first MAX_RECORDS; later ones are counted in `recordsLeftOut` and in the groups. */
  records: FaultRecord[]
  recordsLeftOut: number
  groups: FaultGroup[]
  /** Records counted into no group once MAX_GROUPS groups exist. */
  groupsLeftOut: number
  /** Messages the kernel's ratelimits dropped ("callbacks suppressed"), by vendor. */
  suppressed: {vendor: FaultVendor | null; function: string; count: number}[]
  /** Lines that name an IOMMU event in a form not decoded: kept as text, also in `records`. */
  unparsed: number
  /** Lines skipped as not UTF-8 text. */
  notText: number
}

/** `iommuctl faults --follow --json`: one line per record. */
export type FaultLine = FaultRecord

export const MAX_RECORDS = 10_000
export const MAX_GROUPS = 10_000

export interface FaultOptions {
  since?: {seconds: number} | {epochMs: number}
  device?: Bdf
  /** Called with each record as it is decoded (--follow). */
  onRecord?: (r: FaultRecord) => void
}

/** PCI_SECONDARY_BUS: offset of a bridge's secondary bus number in its config header. */
const PCI_SECONDARY_BUS = 0x19

/** Names a fault's device from the root, once per BDF. */
class Attributor {
  private readonly cache = new Map<string, FaultDevice | null>()
  private readonly groupTypes = new Map<number, {type: string | null; regions: ReservedRegion[]}>()
  private aliases: Map<string, string> | null = null

  constructor(
    private readonly root: Root,
    private readonly topology: PciTopology,
  ) {}

  device(bdf: Bdf): FaultDevice | null {
    if (!this.cache.has(bdf)) this.cache.set(bdf, this.read(bdf))
    return this.cache.get(bdf)!
  }

  private read(bdf: Bdf): FaultDevice {
    const node = this.topology.get(bdf)
    const group = node?.sysfs.group ?? null
    const g = group === null ? null : this.group(group)
    let behindBridge: FaultDevice['behindBridge'] = null
    if (node && this.topology.isBridge(node)) {
      behindBridge = {bridge: bdf, devices: this.behind(bdf)}
    } else if (!node) {
      const bridge = this.aliasBridges().get(bdf)
      if (bridge) behindBridge = {bridge, devices: this.behind(bridge)}
    }
    return {
      bdf,
      present: node !== null,
      brief: briefDevice(bdf, node?.sysfs ?? null),
      group,
      domainType: g?.type ?? null,
      reservedRegions: g?.regions ?? [],
      behindBridge,
    }
  }

  private group(id: number): {type: string | null; regions: ReservedRegion[]} {
    let g = this.groupTypes.get(id)
    if (!g) {
      g = {
        type: this.root.readText(`${GROUPS_DIR}/${id}/type`),
        regions: parseReservedRegions(this.root.readText(`${GROUPS_DIR}/${id}/reserved_regions`)),
      }
      this.groupTypes.set(id, g)
    }
    return g
  }

  /** Devices whose path to the root goes through the bridge. */
  private behind(bridge: Bdf): Bdf[] {
    return this.topology
      .bdfs()
      .filter((b) => b !== bridge && (this.topology.placement(b)?.sysfs.upstream.includes(bridge) ?? false))
  }

  /** Secondary bus, device 0, function 0 of every bridge: the requester ID it gives conventional PCI devices behind it. */
  private aliasBridges(): Map<string, string> {
    if (this.aliases) return this.aliases
    this.aliases = new Map()
    for (const b of this.topology.bdfs()) {
      const p = this.topology.placement(b)
      const config = p?.sysfs.config
      if (!config || config.length <= PCI_SECONDARY_BUS) continue
      // Header type 1 (bridge) only.
      if ((config[0x0e]! & 0x7f) !== 1) continue
      const secondary = config[PCI_SECONDARY_BUS]!
      this.aliases.set(bdf(parseInt(b.slice(0, 4), 16), secondary, 0, 0), b)
    }
    return this.aliases
  }
}

function inRegion(address: Hex | null, regions: ReservedRegion[]): ReservedRegion | null {
  if (address === null) return null
  const a = BigInt(address)
  return regions.find((r) => BigInt(r.start) <= a && a <= BigInt(r.end)) ?? null
}

/** Collects the records of a log fed line by line, into records and groups, each bounded. */
export class FaultCollector {
  private readonly decoder = new FaultDecoder<{line: number; time: LogTime}>()
  private readonly attributor: Attributor
  private readonly records: FaultRecord[] = []
  private recordsLeftOut = 0
  private readonly groups = new Map<string, FaultGroup>()
  private groupsLeftOut = 0
  private readonly suppressed = new Map<string, FaultsReport['suppressed'][number]>()
  private lines = 0
  private unparsed = 0
  private notText = 0

  constructor(
    root: Root,
    private readonly source: FaultsReport['source'],
    private readonly options: FaultOptions = {},
  ) {
    this.attributor = new Attributor(root, new PciTopology(root))
  }

  /** A line that was not UTF-8 text. */
  skipNotText(): void {
    this.lines++
    this.notText++
  }

  push(raw: string): void {
    this.lines++
    const parsed = parseLogLine(raw)
    if (!parsed) return
    if (this.options.since && !atOrAfter(parsed.time, this.options.since)) return
    for (const {fault, at} of this.decoder.push(parsed.text, {line: this.lines, time: parsed.time})) {
      this.take(fault, at)
    }
  }

  end(): FaultsReport {
    for (const {fault, at} of this.decoder.end()) this.take(fault, at)
    return {
      source: this.source,
      lines: this.lines,
      records: this.records,
      recordsLeftOut: this.recordsLeftOut,
      groups: [...this.groups.values()],
      groupsLeftOut: this.groupsLeftOut,
      suppressed: [...this.suppressed.values()],
      unparsed: this.unparsed,
      notText: this.notText,
    }
  }

  private take(d: DecodedFault, at: {line: number; time: LogTime}): void {
    if (d.kind === 'suppressed') {
      const key = `${d.vendor}:${d.suppressed!.function}`
      const s = this.suppressed.get(key) ?? {vendor: d.vendor, function: d.suppressed!.function, count: 0}
      s.count += d.suppressed!.count
      this.suppressed.set(key, s)
    }
    const device = d.bdf ? this.attributor.device(d.bdf) : null
    const wanted = this.options.device
    if (wanted && d.bdf !== wanted && !(device?.behindBridge?.devices.includes(wanted) ?? false)) return
    const record: FaultRecord = {
      ...d,
      line: at.line,
      time: at.time,
      device,
      inReservedRegion: inRegion(d.address, device?.reservedRegions ?? []),
    }
    if (d.kind === 'unparsed') this.unparsed++
    this.options.onRecord?.(record)
    if (this.records.length < MAX_RECORDS) this.records.push(record)
    else this.recordsLeftOut++
    if (d.kind !== 'unparsed' && d.kind !== 'suppressed') this.group(record)
  }

  private group(r: FaultRecord): void {
    const key = [
      r.vendor,
      r.kind,
      r.bdf ?? r.requester ?? '',
      r.unit ?? '',
      r.streamId ?? '',
      r.reason?.code,
      r.reason?.name,
    ].join('|')
    let g = this.groups.get(key)
    const at: FaultSeen = {line: r.line, time: r.time, address: r.address, index: r.index}
    if (!g) {
      if (this.groups.size >= MAX_GROUPS) {
        this.groupsLeftOut++
        return
      }
      g = {
        vendor: r.vendor,
        kind: r.kind,
        requester: r.requester,
        bdf: r.bdf,
        segmentAssumed: r.segmentAssumed,
        unit: r.unit,
        driver: r.driver,
        streamId: r.streamId,
        reason: r.reason,
        accesses: [],
        count: 0,
        first: at,
        last: at,
        inReservedRegions: [],
        device: r.device,
        advice: adviseFault(r),
      }
      this.groups.set(key, g)
    }
    g.count++
    g.last = at
    if (r.access && !g.accesses.includes(r.access)) g.accesses.push(r.access)
    if (r.inReservedRegion && !g.inReservedRegions.some((x) => x.start === r.inReservedRegion!.start)) {
      g.inReservedRegions.push(r.inReservedRegion)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What each kind usually means

const NOT_ATTACHED: FaultAdvice = {
  cause:
    'The IOMMU has no translation set up for this requester at all: DMA from a device before its driver attached it to a domain (firmware, a BMC, USB legacy support or a NIC boot ROM still running), from a function that borrows another requester ID (phantom functions, DMA aliases the kernel has no quirk for), or after the domain was torn down.',
  check:
    'Whether the requester ID is a real device (`iommuctl devices show BDF`) and in a group; if not, which bridge or device it belongs to. Firmware settings for USB legacy, PXE and BMC DMA; a kernel quirk for the device (pci=... DMA alias).',
}
const UNMAPPED: FaultAdvice = {
  cause:
    'The device reached an address its domain does not map (or maps without that permission): a driver using a buffer after unmapping it, a device still running descriptors after a reset or driver unbind, or DMA to a firmware-reserved range that no RMRR/IVMD maps.',
  check:
    'The driver and firmware version of the device; whether the address is in a reserved region (shown) or a firmware range; whether the faults start at driver load, reset or unbind. Booting with iommu=pt hides it (identity domain) but does not fix it.',
}
const ADDRESS_WIDTH: FaultAdvice = {
  cause:
    'The address is wider than the IOMMU translates (its guest address width): a device or driver ignoring its DMA mask.',
  check:
    "The device's dma_mask_bits in sysfs against the unit's address width (`iommuctl units show`); driver updates.",
}
const TABLE_ERROR: FaultAdvice = {
  cause:
    "The IOMMU's own tables (root, context, PASID or page-table entries) are malformed or unreadable: a kernel bug, memory corruption, or a firmware hand-over that left stale tables.",
  check:
    'The kernel version (known fixes), memory errors (EDAC, mcelog), and whether it follows a kexec or a firmware update.',
}
const INTERRUPT: FaultAdvice = {
  cause:
    'An interrupt request the interrupt-remapping unit refused: an IOAPIC, HPET or device still using the old (compatibility) format under x2APIC, an MSI with a requester ID that is not its own, or an interrupt from an entry no longer set up.',
  check:
    "Firmware updates (IOAPIC/HPET scopes in the DMAR or IVRS table); the device's DMA aliases; whether it comes right after a driver unload. intremap=off hides it at the cost of interrupt isolation.",
}
const IOTLB_TIMEOUT: FaultAdvice = {
  cause:
    'A device with ATS did not answer an IOTLB invalidation in time: the device is hung, resetting, or its ATS implementation is broken.',
  check:
    "The device's health and firmware; ATS on it (`iommuctl devices show BDF`); disabling ATS for it (pci=noats) to confirm.",
}
const BAD_REQUEST: FaultAdvice = {
  cause:
    'The device sent a request of a kind it is not allowed to: an ATS translation request or a PASID-tagged request while the IOMMU has ATS, PASID or PRI off for it.',
  check:
    "Which PCIe capabilities the device has enabled (`iommuctl devices show BDF`) against the unit's; the driver's SVA/PASID settings.",
}
const RMP: FaultAdvice = {
  cause:
    "SEV-SNP's reverse map refused the access: the device reached a page assigned to a guest or to firmware.",
  check:
    'Whether the device is meant to reach that guest (TDISP/trusted I/O set-up) and the SNP firmware and kernel versions.',
}
const HARDWARE: FaultAdvice = {
  cause:
    'The IOMMU hit a hardware error reading its tables or commands: a platform or memory fault, rarely a kernel bug.',
  check:
    'Machine-check and EDAC logs, BIOS and microcode updates; report it with the full log to the platform vendor.',
}
const STREAM_CONFIG: FaultAdvice = {
  cause:
    "The SMMU has no valid configuration for the stream: the device's stream ID is not described to the kernel (iommus/iommu-map in the device tree, IORT in ACPI) or its domain was never attached.",
  check:
    "The stream ID against the firmware's description (device tree or IORT); whether the driver probed before the SMMU.",
}
const UNKNOWN: FaultAdvice = {
  cause: 'An event this tool has no explanation for.',
  check: "The kernel's own text in the record and the IOMMU vendor's specification for its code.",
}

function adviseFault(r: DecodedFault): FaultAdvice {
  if (r.kind === 'interrupt') return INTERRUPT
  if (r.kind === 'fault-status')
    return {
      cause: 'The VT-d unit raised its fault interrupt; the records that follow say what failed.',
      check: 'The DMA and interrupt-remapping faults around it; PFO or PRO set means records were lost.',
    }
  const code = r.reason?.code ? Number.parseInt(r.reason.code.slice(2), 16) : null
  switch (r.vendor) {
    case 'intel-vtd':
      if (code === null) return UNKNOWN
      if ([1, 2, 0x39, 0x41, 0x44].includes(code)) return NOT_ATTACHED
      if ([5, 6, 0x71, 0x75, 0x76, 0x77, 0x79, 0x81, 0x82, 0x85, 0x86].includes(code)) return UNMAPPED
      if ([4, 0x74, 0x83, 0x84].includes(code)) return ADDRESS_WIDTH
      return code === 0 ? UNKNOWN : TABLE_ERROR
    case 'amd-vi':
      switch (r.reason?.name) {
        case 'IO_PAGE_FAULT':
          return r.domain === '0x0' ? NOT_ATTACHED : UNMAPPED
        case 'ILLEGAL_DEV_TABLE_ENTRY':
        case 'Device not attached to domain properly':
          return NOT_ATTACHED
        case 'IOTLB_INV_TIMEOUT':
          return IOTLB_TIMEOUT
        case 'INVALID_DEVICE_REQUEST':
        case 'INVALID_PPR_REQUEST':
          return BAD_REQUEST
        case 'RMP_PAGE_FAULT':
          return RMP
        case 'DEV_TAB_HARDWARE_ERROR':
        case 'PAGE_TAB_HARDWARE_ERROR':
        case 'COMMAND_HARDWARE_ERROR':
        case 'RMP_HW_ERROR':
          return HARDWARE
        case 'ILLEGAL_COMMAND_ERROR':
          return TABLE_ERROR
        default:
          return UNKNOWN
      }
    case 'arm-smmu-v3':
      switch (r.reason?.name) {
        case 'F_TRANSLATION':
        case 'F_PERMISSION':
        case 'F_ACCESS':
          return UNMAPPED
        case 'F_ADDR_SIZE':
          return ADDRESS_WIDTH
        case 'C_BAD_STREAMID':
        case 'C_BAD_STE':
        case 'F_STREAM_DISABLED':
        case 'C_BAD_SUBSTREAMID':
        case 'C_BAD_CD':
          return STREAM_CONFIG
        case 'F_STE_FETCH':
        case 'F_CD_FETCH':
        case 'F_WALK_EABT':
          return TABLE_ERROR
        default:
          return UNKNOWN
      }
    case 'virtio-iommu':
      return r.reason?.name === 'page fault'
        ? UNMAPPED
        : r.reason?.name === 'domain fault'
          ? NOT_ATTACHED
          : UNKNOWN
    case 'arm-smmu':
      return r.flags?.set.some((b) => b === 'TF' || b === 'PF' || b === 'AFF') ? UNMAPPED : UNKNOWN
    default:
      return UNKNOWN
  }
}
