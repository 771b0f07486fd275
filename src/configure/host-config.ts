import * as path from 'node:path'

import {ExitCode, IommuctlError} from '../errors.js'
import {parseSize, SIZE_PATTERN} from '../model/units-of-measure.js'
import {PciTopology} from '../model/topology.js'
import {Bdf} from '../records.js'
import {schemaProblem, schemaValidators} from '../schema.js'
import {readDocument} from '../session/plan.js'
import {BDF_PATTERN, GROUPS_DIR} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'
import {DriverName, JournalDomainType} from './journal.js'
import {poolPath} from './transaction.js'

/** Where `host apply` and `host status` read the desired state unless --config names a file. */
export const DEFAULT_HOST_CONFIG = '/etc/iommuctl/host.yaml'

/** A host config is a few KiB; more is a mistake. */
export const MAX_CONFIG_BYTES = 1 << 20

/**
 * A PCI id as `lspci -n` prints it: vendor:device, optionally :subsystem vendor:subsystem device, in hex.
 * @pattern ^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}(:[0-9a-fA-F]{4}:[0-9a-fA-F]{4})?$
 */
export type PciIdText = string

/**
 * A device's real sysfs directory, as `readlink -f /sys/bus/pci/devices/BDF` prints it: it names
 * the slot the device sits in, through every bridge above it.
 * @pattern ^/sys/devices/[A-Za-z0-9:._/-]+$
 * @maxLength 1024
 */
export type SysfsDevicePath = string

/**
 * A hugepage size in the grammar of sizes (2M, 1G, 2MiB).
 * @pattern ^([0-9]{1,20})(?:([KMGT])(?:iB)?)?$
 */
export type HugepageSize = string

/** Which device an entry is about: exactly one of bdf, id, path. */
export interface DeviceSelector {
  bdf?: Bdf
  /** The device with this id; with `all: true` every one. */
  id?: PciIdText
  path?: SysfsDevicePath
}

/** SR-IOV: how many VFs a PF has, and their drivers. */
export interface HostVfs {
  /**
   * sriov_numvfs: at most the PF's sriov_totalvfs.
   * @asType integer
   * @minimum 0
   * @maximum 65535
   */
  count: number
  /** The driver of every VF (vfio-pci, a VFIO variant, a kernel driver, or none); left to the kernel when absent. */
  driver?: DriverName
  /**
   * The driver of VF 0, 1, ... in order, in place of `driver` for those.
   * @maxItems 4096
   */
  drivers?: DriverName[]
}

/** A device entry: where it goes, and whether its group goes with it. */
export interface HostDevice extends DeviceSelector {
  /** With id: every device with that id; without, the entry must match exactly one. */
  all?: boolean
  /** vfio-pci, a VFIO variant driver, another kernel driver, or none (no driver). */
  driver?: DriverName
  /** The rest of its IOMMU group goes to the same VFIO driver (VFIO needs the whole group; bridges stay). */
  group?: boolean
  vfs?: HostVfs
}

/** A group's default domain type, the group named by one of its devices (group numbers change between boots). */
export interface HostGroup extends DeviceSelector {
  type: HostDomainType
}

/** A default domain type as the kernel reads it back; not auto, which reads back as the type it picked, so could never be found in place. */
export type HostDomainType = Exclude<JournalDomainType, 'auto'>

/** A hugepage pool: pages of one size, on the whole host or one NUMA node. */
export interface HostHugepages {
  size: HugepageSize
  /**
   * nr_hugepages.
   * @asType integer
   * @minimum 0
   * @maximum 2147483647
   */
  count: number
  /**
   * The NUMA node (/sys/devices/system/node/nodeN); the whole host when absent.
   * @asType integer
   * @minimum 0
   * @maximum 1023
   */
  node?: number
}

/** /etc/iommuctl/host.yaml (schemas/host-config.json): the state `host apply` makes and `host status` checks. */
export interface HostConfig {
  /** @maxItems 4096 */
  devices?: HostDevice[]
  /** @maxItems 4096 */
  groups?: HostGroup[]
  /** @maxItems 1024 */
  hugepages?: HostHugepages[]
}

/** A config as read: its file and its checked contents. */
export interface LoadedConfig {
  file: string
  data: HostConfig
}

const badConfig = (file: string, message: string, suggestion?: string) =>
  new IommuctlError('BAD_CONFIG', `${file}: ${message}`, {exit: ExitCode.usage, path: file, suggestion})

/** Reads and checks a host config (JSON or YAML, at most 1 MiB, a regular file, schemas/host-config.json). */
export async function readHostConfig(file: string): Promise<LoadedConfig> {
  const data = await readDocument(
    file,
    {
      code: 'BAD_CONFIG',
      name: 'The host config',
      limit: MAX_CONFIG_BYTES,
      suggestion: `Give a YAML or JSON file, as ${DEFAULT_HOST_CONFIG} is.`,
    },
    (twice) => badConfig(file, `${twice}: given twice in one object`),
  )
  const e = schemaValidators('host-config').whole(data ?? {})
  if (e) {
    const {where, message} = schemaProblem(e, '')
    throw badConfig(
      file,
      `${where || 'the config'}: ${message}`,
      'See `iommuctl host apply --help` for the format.',
    )
  }
  return {file, data: (data ?? {}) as HostConfig}
}

/** One device entry, matched: the devices it names and where they go. */
export interface DesiredDevices {
  entry: string
  bdfs: Bdf[]
  /** undefined: the entry says nothing about its driver (only its VFs); null: no driver. */
  driver: string | null | undefined
  group: boolean
}

/** A PF's VFs: their count, and each VF's address (computed from the SR-IOV capability when they do not exist yet) and driver. */
export interface DesiredVfs {
  entry: string
  pf: Bdf
  count: number
  /** The VFs the kernel makes, in index order, with the driver each one gets (undefined: left to the kernel). */
  vfs: {bdf: Bdf; driver: string | null | undefined}[]
}

export interface DesiredGroup {
  entry: string
  group: number
  type: HostDomainType
}

export interface DesiredHugepages {
  entry: string
  /** The nr_hugepages file. */
  path: string
  count: number
}

/** A config matched against a host: what each entry asks of which device, group and pool. */
export interface Desired {
  file: string
  devices: DesiredDevices[]
  vfs: DesiredVfs[]
  groups: DesiredGroup[]
  hugepages: DesiredHugepages[]
}

/** An entry's name in errors and in `host status`: devices[1] (id 8086:10c9). */
function entryName(list: string, i: number, s: DeviceSelector): string {
  const by = s.bdf !== undefined ? `bdf ${s.bdf}` : s.id !== undefined ? `id ${s.id}` : `path ${s.path}`
  return `${list}[${i}] (${by})`
}

const driverOf = (d: string | undefined): string | null | undefined => (d === 'none' ? null : d)

/**
 * Matches a config against a host: every entry must name a device that is there (an id entry
 * without `all` exactly one), no device may be named by two entries, a VF count must fit the PF's
 * sriov_totalvfs, a hugepage pool must exist. Any problem is a usage error naming the entry;
 * nothing is changed.
 */
export function resolveConfig(root: Root, config: LoadedConfig): Desired {
  const {file, data} = config
  const topology = new PciTopology(root)
  const bad = (entry: string, message: string, suggestion?: string) =>
    badConfig(file, `${entry}: ${message}`, suggestion)
  const all = () => topology.bdfs()

  const match = (list: string, i: number, s: DeviceSelector, many: boolean): {entry: string; bdfs: Bdf[]} => {
    const given = [s.bdf, s.id, s.path].filter((x) => x !== undefined).length
    if (given !== 1) {
      throw badConfig(
        file,
        `${list}[${i}]: give exactly one of bdf, id and path (it has ${given})`,
        'bdf: 0000:01:00.0, id: 8086:10c9 (vendor:device[:subvendor:subdevice]), path: /sys/devices/pci0000:00/0000:00:03.0',
      )
    }
    const entry = entryName(list, i, s)
    let bdfs: Bdf[]
    if (s.bdf !== undefined) bdfs = topology.get(s.bdf) ? [s.bdf] : []
    else if (s.path !== undefined) {
      const bdf = path.posix.basename(s.path)
      bdfs =
        BDF_PATTERN.test(bdf) && topology.get(bdf)?.sysfs.sysfsPath === path.posix.normalize(s.path)
          ? [bdf]
          : []
    } else {
      const want = s
        .id!.toLowerCase()
        .split(':')
        .map((h) => parseInt(h, 16))
      bdfs = all().filter((b) => {
        const d = topology.once(b)?.sysfs
        const have = [d?.vendor, d?.device, d?.subsystemVendor, d?.subsystemDevice]
        return want.every((v, k) => have[k] === v)
      })
    }
    if (bdfs.length === 0)
      throw bad(entry, 'matches no device on this host', 'List the devices with `iommuctl devices`.')
    if (bdfs.length > 1 && !many) {
      throw bad(
        entry,
        `matches ${bdfs.length} devices (${bdfs.join(', ')}), and this entry is about one`,
        list === 'devices'
          ? 'Add `all: true` to take every one, or name one by bdf or path.'
          : 'Name one by bdf or path.',
      )
    }
    return {entry, bdfs}
  }

  const devices: DesiredDevices[] = []
  const vfs: DesiredVfs[] = []
  const claimed = new Map<Bdf, string>()
  const claim = (bdf: Bdf, entry: string) => {
    const first = claimed.get(bdf)
    if (first) throw bad(entry, `names ${bdf}, which ${first} names already`, 'Give each device one entry.')
    claimed.set(bdf, entry)
  }
  for (const [i, d] of (data.devices ?? []).entries()) {
    const {entry, bdfs} = match('devices', i, d, d.all === true)
    for (const b of bdfs) claim(b, entry)
    if (d.driver !== undefined)
      devices.push({entry, bdfs, driver: driverOf(d.driver), group: d.group ?? false})
    if (d.vfs) {
      if (bdfs.length > 1) throw bad(entry, `sets VFs on ${bdfs.length} devices; give each PF its own entry`)
      const want = desiredVfs(topology, bdfs[0]!, d.vfs, (m) => bad(entry, m))
      for (const vf of want.filter((v) => v.driver !== undefined)) claim(vf.bdf, entry)
      vfs.push({entry, pf: bdfs[0]!, count: d.vfs.count, vfs: want})
    }
  }

  const groups: DesiredGroup[] = []
  for (const [i, g] of (data.groups ?? []).entries()) {
    const {entry, bdfs} = match('groups', i, g, false)
    const group = topology.get(bdfs[0]!)?.sysfs.group ?? null
    if (group === null)
      throw bad(entry, `${bdfs[0]} is in no IOMMU group`, 'Enable the IOMMU (see `iommuctl status`).')
    const twice = groups.find((x) => x.group === group)
    if (twice) throw bad(entry, `group ${group} has an entry already: ${twice.entry}`)
    groups.push({entry, group, type: g.type})
  }

  const hugepages: DesiredHugepages[] = []
  for (const [i, h] of (data.hugepages ?? []).entries()) {
    const entry = `hugepages[${i}] (${h.size}${h.node === undefined ? '' : ` on node ${h.node}`})`
    const bytes = SIZE_PATTERN.test(h.size) ? parseSize(h.size) : 0n
    const dir =
      h.node === undefined ? '/sys/kernel/mm/hugepages' : `/sys/devices/system/node/node${h.node}/hugepages`
    const pool = poolPath(`${h.node === undefined ? '' : `node${h.node}/`}hugepages-${bytes / 1024n}kB`)
    if (bytes % 1024n !== 0n || root.readText(pool) === null) {
      const sizes = root.list(dir).filter((n) => /^hugepages-\d+kB$/.test(n))
      throw bad(
        entry,
        h.node !== undefined && !root.isDirectory(`/sys/devices/system/node/node${h.node}`)
          ? `there is no NUMA node ${h.node}`
          : `there is no ${h.size} hugepage pool (${pool})`,
        sizes.length
          ? `The pools here: ${sizes.join(', ')}.`
          : 'This kernel has no hugepages (CONFIG_HUGETLBFS).',
      )
    }
    if (hugepages.some((x) => x.path === pool)) throw bad(entry, `${pool} has an entry already`)
    hugepages.push({entry, path: pool, count: h.count})
  }
  return {file, devices, vfs, groups, hugepages}
}

/**
 * A PF's VFs as the kernel will make them: their addresses are the PF's routing id plus First VF
 * Offset plus Stride times the VF's index (PCIe Base Specification, SR-IOV capability; the
 * kernel's pci_iov_virtfn_bus/devfn), read from the PF's config space; those that exist already
 * come from its virtfnN links.
 */
function desiredVfs(
  topology: PciTopology,
  pf: Bdf,
  want: HostVfs,
  bad: (message: string) => IommuctlError,
): DesiredVfs['vfs'] {
  const node = topology.get(pf)!
  const total = node.sysfs.sriovTotalVfs
  if (total === null) throw bad(`${pf} has no SR-IOV (no sriov_totalvfs): it cannot have VFs`)
  if (want.count > total)
    throw bad(`asks for ${want.count} VFs, and ${pf} has at most ${total} (sriov_totalvfs)`)
  if ((want.drivers?.length ?? 0) > want.count)
    throw bad(`names drivers for ${want.drivers!.length} VFs, and asks for ${want.count}`)
  const sriov = node.config?.sriov ?? null
  const exist = node.sysfs.sriovNumVfs === want.count ? node.sysfs.virtfns : null
  if (!exist && !sriov)
    throw bad(`cannot read ${pf}'s SR-IOV capability from its config space to place its VFs`)
  const [domain, bus, devfn] = parseBdf(pf)
  return Array.from({length: want.count}, (_, n) => {
    let bdf = exist?.[n]
    if (bdf === undefined) {
      const rid = (bus << 8) + devfn + sriov!.vfOffset + n * sriov!.vfStride
      bdf = `${hex(domain, 4)}:${hex((rid >> 8) & 0xff, 2)}:${hex((rid >> 3) & 0x1f, 2)}.${rid & 7}`
    }
    return {bdf, driver: driverOf(want.drivers?.[n] ?? want.driver)}
  })
}

const hex = (v: number, width: number) => v.toString(16).padStart(width, '0')

function parseBdf(bdf: Bdf): [number, number, number] {
  const [d, b, df] = bdf.split(':')
  const [dev, fn] = df!.split('.')
  return [parseInt(d!, 16), parseInt(b!, 16), (parseInt(dev!, 16) << 3) | Number(fn)]
}

/** Narrows a config to what is about one device (`host apply --device`): its entry, its VFs, its group. */
export function onlyDevice(root: Root, desired: Desired, bdf: Bdf): Desired {
  const groupOf = (b: string) => root.linkName(`/sys/bus/pci/devices/${b}/iommu_group`)
  const group = groupOf(bdf)
  const narrowed: Desired = {
    ...desired,
    devices: desired.devices.filter((d) => d.bdfs.includes(bdf)).map((d) => ({...d, bdfs: [bdf]})),
    vfs: desired.vfs
      .filter((v) => v.pf === bdf || v.vfs.some((x) => x.bdf === bdf))
      .map((v) =>
        v.pf === bdf ? v : {...v, vfs: v.vfs.map((x) => (x.bdf === bdf ? x : {...x, driver: undefined}))},
      ),
    groups: desired.groups.filter(
      (g) => group !== null && String(g.group) === group && root.exists(`${GROUPS_DIR}/${group}`),
    ),
    hugepages: [],
  }
  if (narrowed.devices.length + narrowed.vfs.length + narrowed.groups.length === 0) {
    throw new IommuctlError('NOT_IN_CONFIG', `${desired.file} says nothing about ${bdf}.`, {
      exit: ExitCode.usage,
      path: desired.file,
      suggestion: 'Leave out --device to apply the whole config, or add an entry for the device.',
    })
  }
  return narrowed
}
