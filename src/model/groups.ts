import {GROUPS_DIR, listGroups} from '../sysfs/inventory.js'
import {Bdf, Hex} from '../records.js'
import {Root} from '../sysfs/root.js'
import {isVfioDriver} from '../vfio/driver.js'
import {DeviceBrief, briefDevice} from './devices.js'
import {acsEnabled, PciPlacement, PciTopology} from './topology.js'

export interface ReservedRegion {
  start: Hex
  end: Hex
  type: string
}

export interface Blocker {
  bdf: Bdf
  driver: string | null
  reason: string
}

/** Why the devices of a group could not be split, as the kernel's pci_device_group() decides. */
export interface Sharing {
  /** A device, bridge or port and what about it merges the group. */
  causes: {
    bdf: string
    kind: 'conventional-bridge' | 'no-acs' | 'multifunction' | 'unknown'
    detail: string
  }[]
  summary: string
}

export interface GroupRecord {
  id: number
  type: string | null
  /** The IOMMU unit that translates for this group's devices. */
  unit: string | null
  devices: DeviceBrief[]
  reservedRegions: ReservedRegion[]
  /** Whether VFIO can take the group: every device on a VFIO driver, pci-stub or none (bridges on pcieport excepted). */
  viable: boolean
  blockers: Blocker[]
  /** Null for a group of one device. */
  sharing: Sharing | null
}

/**
 * Drivers that leave DMA ownership to VFIO/iommufd (driver_managed_dma in the kernel: vfio-pci
 * and its variant drivers, pci-stub, pcieport).
 */
export function allowsVfio(driver: string | null): boolean {
  return driver === null || driver === 'pci-stub' || driver === 'pcieport' || isVfioDriver(driver)
}

export function readGroups(root: Root, topology = new PciTopology(root)): GroupRecord[] {
  return listGroups(root).map((g) => groupRecord(root, topology, g.id, g.type, g.devices))
}

export function readGroup(root: Root, id: number, topology = new PciTopology(root)): GroupRecord | null {
  const g = listGroups(root).find((x) => x.id === id)
  return g ? groupRecord(root, topology, g.id, g.type, g.devices) : null
}

function groupRecord(
  root: Root,
  topology: PciTopology,
  id: number,
  type: string | null,
  members: string[],
): GroupRecord {
  const briefs = members.map((bdf) => ({bdf, brief: topology.brief(bdf)}))
  const devices = briefs.map(({bdf, brief}) => briefDevice(bdf, brief))
  const blockers: Blocker[] = []
  for (const {bdf, brief} of briefs) {
    const driver = brief?.driver ?? null
    if (allowsVfio(driver)) continue
    blockers.push({
      bdf,
      driver,
      reason: `bound to ${driver}, which uses DMA itself: VFIO needs every device of the group on vfio-pci, pci-stub or no driver`,
    })
  }
  const units = [...new Set(briefs.map(({brief}) => brief?.unit).filter((u): u is string => !!u))]
  return {
    id,
    type,
    unit: units[0] ?? null,
    devices,
    reservedRegions: parseReservedRegions(root.readText(`${GROUPS_DIR}/${id}/reserved_regions`)),
    viable: blockers.length === 0,
    blockers,
    // Only a shared group needs config space (ACS, the PCIe port type) to say why.
    sharing:
      members.length > 1
        ? explainSharing(
            topology,
            members.map((bdf) => ({bdf, node: topology.placement(bdf)})),
          )
        : null,
  }
}

/** Lines "0x00000000fee00000 0x00000000feefffff msi" as the kernel prints them. */
export function parseReservedRegions(text: string | null): ReservedRegion[] {
  if (!text) return []
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3)
    .map(([start, end, type]) => ({start: start!, end: end!, type: type!}))
}

/**
 * Retraces pci_device_group() for each member: its DMA alias (a conventional bridge above it
 * makes the IOMMU see the bridge's requester ID), the first upstream bridge whose path to the
 * root is not ACS-isolated, and a multifunction device whose functions are not isolated.
 */
function explainSharing(topology: PciTopology, members: {bdf: string; node: PciPlacement | null}[]): Sharing {
  const causes = new Map<string, Sharing['causes'][number]>()
  const add = (c: Sharing['causes'][number]) => causes.set(`${c.kind}:${c.bdf}`, c)
  for (const {bdf, node} of members) {
    if (!node) continue
    const chain = [...node.sysfs.upstream].reverse()
    // DMA alias: requests from behind a conventional PCI (or PCIe-to-PCI) bridge carry the bridge's ID.
    for (const up of chain) {
      const bridge = topology.placement(up)
      // Without root only 64 bytes are readable: the PCIe capability, past them, is unknown.
      if (!bridge?.config?.complete) continue
      const t = bridge.config.express?.type
      if (!bridge.config.express || t === 'pcie-to-pci-bridge') {
        add({
          bdf: up,
          kind: 'conventional-bridge',
          detail: `${t === 'pcie-to-pci-bridge' ? 'PCIe-to-PCI' : 'conventional PCI'} bridge: the IOMMU sees DMA from every device behind it as the bridge's own, so they cannot be told apart`,
        })
      }
    }
    // Upstream ports without ACS let peers below them reach each other without the IOMMU.
    for (const up of chain) {
      const bridge = topology.placement(up)
      if (!bridge) continue
      const acs = acsEnabled(bridge)
      if (acs.isolated === false && bridge.config?.express) {
        const what = bridge.config.express.type?.replace(/-/g, ' ') ?? 'PCIe bridge'
        add({bdf: up, kind: 'no-acs', detail: `${what} without ACS isolation (${acs.missing.join(', ')})`})
      } else if (acs.isolated === null) {
        add({bdf: up, kind: 'unknown', detail: acs.why})
      }
    }
    const own = acsEnabled(node)
    if (node.config?.multifunction && own.isolated === false) {
      const slot = bdf.slice(0, -2)
      const fns = members.filter((m) => m.bdf.startsWith(slot)).map((m) => m.bdf.slice(-1))
      if (fns.length > 1) {
        add({
          bdf: `${slot}.*`,
          kind: 'multifunction',
          detail: `multifunction device (functions ${fns.map((f) => '.' + f).join(' ')}) without ACS between its functions: ${own.missing.join(', ')}`,
        })
      }
    } else if (own.isolated === null) {
      add({bdf, kind: 'unknown', detail: own.why})
    }
  }
  const list = [...causes.values()]
  const known = list.filter((c) => c.kind !== 'unknown')
  const summary = known.length
    ? known.map((c) => `${c.bdf}: ${c.detail}`).join('; ')
    : list.length
      ? `cannot tell without root: ${list[0]!.detail}`
      : 'no topology reason found: the kernel applied a device-specific quirk or a DMA alias this tool cannot see'
  return {causes: list, summary}
}

/** `iommuctl groups --json` */
export type GroupList = GroupRecord[]
