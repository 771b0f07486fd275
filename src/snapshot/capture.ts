import * as fs from 'node:fs'
import * as path from 'node:path'

import {errnoOf} from '../errors.js'
import {liveDomains} from '../model/live.js'
import {readUnitDetail, readUnits} from '../model/units.js'
import {AMD_DEBUGFS_DIR, INTEL_DEBUGFS_DIR, recordChosen} from '../sysfs/debugfs.js'
import {BDF_PATTERN, GROUPS_DIR, PCI_DEVICES_DIR, UNITS_DIR} from '../sysfs/inventory.js'
import {captureKmsg, KMSG} from '../sysfs/kmsg.js'
import {MDEV_BUS_CLASS, MDEV_DEVICES_DIR} from '../sysfs/mdev.js'
import {CutFile, DevNode, MANIFEST_NAME, Root, SnapshotManifest, Unreadable} from '../sysfs/root.js'

/**
 * PCI device attributes worth keeping. An allowlist on purpose: resourceN and rom are
 * never read, since reading them touches the device itself. `resource` is the text list of
 * BAR ranges, which lspci's sysfs reader needs to read a snapshot.
 */
const PCI_ATTRIBUTES = [
  'ari_enabled',
  'boot_vga',
  'class',
  'config',
  'current_link_speed',
  'current_link_width',
  'd3cold_allowed',
  'device',
  'dma_mask_bits',
  'driver_override',
  'enable',
  'irq',
  'label',
  'local_cpulist',
  'max_link_speed',
  'max_link_width',
  'modalias',
  'msi_bus',
  'numa_node',
  'power_state',
  'removable',
  'reset_method',
  'resource',
  'revision',
  'sriov_drivers_autoprobe',
  'sriov_numvfs',
  'sriov_offset',
  'sriov_stride',
  'sriov_totalvfs',
  'sriov_vf_device',
  'subsystem_device',
  'subsystem_vendor',
  'vendor',
]
/** Links of a PCI device kept as links (their targets are captured on their own). */
const PCI_LINKS = /^(driver|iommu|iommu_group|physfn|virtfn\d+|subsystem)$/
/** Modules whose parameters decide IOMMU and VFIO behaviour (allow_unsafe_interrupts and the like). */
const MODULES_WITH_PARAMETERS = new Set([
  'iommu',
  'iommufd',
  'intel_iommu',
  'amd_iommu',
  'virtio_iommu',
  'vfio',
  'vfio_iommu_type1',
  'vfio_pci',
  'vfio_pci_core',
  'pci_stub',
])
const HUGEPAGE_FILES = ['nr_hugepages', 'free_hugepages', 'resv_hugepages', 'surplus_hugepages']
const PROC_FILES = [
  '/proc/cmdline',
  '/proc/config.gz',
  '/proc/interrupts',
  '/proc/meminfo',
  '/proc/modules',
  '/proc/sys/kernel/osrelease',
  '/proc/version',
]
const FIRMWARE_TABLES = ['/sys/firmware/acpi/tables/DMAR', '/sys/firmware/acpi/tables/IVRS']

/**
 * Copies the IOMMU-relevant part of a host root into dest, keeping symlinks as symlinks,
 * and writes the manifest. A snapshot given as the source keeps its manifest, so a
 * snapshot of a snapshot is the same tree.
 */
export function captureTree(
  src: Root,
  dest: string,
  tool: string,
  opts: {debugfs?: boolean} = {},
): SnapshotManifest {
  const copy = new TreeCopier(src, dest)
  copy.groups()
  copy.units()
  copy.pciDevices()
  copy.drivers()
  copy.mdevs()
  copy.modules()
  copy.hugepages()
  for (const file of [...PROC_FILES, ...FIRMWARE_TABLES]) copy.file(file)
  copy.kernelFiles()
  copy.kernelLog()
  copy.dmaExposure()
  if (opts.debugfs) copy.debugfs()
  const devNodes = copy.devNodes()

  const unreadable = mergeUnreadable(src.manifest?.unreadable ?? [], copy.unreadable)
  const cut = [...(src.manifest?.cut ?? []), ...copy.cut]
  const manifest: SnapshotManifest = src.manifest
    ? {...src.manifest, unreadable, ...(cut.length ? {cut} : {})}
    : {
        format: 1,
        tool,
        capturedAt: new Date().toISOString(),
        kernel: src.readText('/proc/sys/kernel/osrelease'),
        privileged: process.getuid?.() === 0,
        devNodes,
        unreadable,
        ...(cut.length ? {cut} : {}),
      }
  fs.writeFileSync(path.join(dest, MANIFEST_NAME), JSON.stringify(manifest, null, 2) + '\n')
  return manifest
}

/** The VT-d debugfs files `snapshot --debugfs` keeps whole (each under Root's 64 MiB bound). */
const INTEL_DEBUGFS_FILES = [
  'dmar_translation_struct',
  'iommu_regset',
  'ir_translation_struct',
  'invalidation_queue',
]
/**
 * The most of one page-table dump a snapshot keeps: a line per mapped page, so 4 MiB is some
 * 38,000 pages of a device (150 MiB mapped in 4 KiB pages), the rest cut and said so.
 */
export const PAGE_DUMP_BYTES = 4 * 1024 * 1024

class TreeCopier {
  readonly unreadable: Unreadable[] = []
  readonly cut: CutFile[] = []

  constructor(
    private readonly src: Root,
    private readonly dest: string,
  ) {}

  groups(): void {
    this.dir(GROUPS_DIR)
    for (const id of this.src.list(GROUPS_DIR)) {
      const dir = `${GROUPS_DIR}/${id}`
      this.file(`${dir}/type`)
      this.file(`${dir}/reserved_regions`)
      this.dir(`${dir}/devices`)
      for (const dev of this.src.list(`${dir}/devices`)) this.link(`${dir}/devices/${dev}`)
    }
  }

  units(): void {
    this.dir(UNITS_DIR)
    for (const name of this.src.list(UNITS_DIR)) {
      const entry = `${UNITS_DIR}/${name}`
      const real = this.entryDir(entry)
      if (real) this.unitDir(real)
    }
  }

  /** A unit's attributes one level deep (intel-iommu/cap, amd-iommu/features, ...) and its links. */
  private unitDir(dir: string): void {
    this.dir(dir)
    // virtio-iommu (.../virtioN/iommu/NAME) has no registers of its own: its virtio features say what it can do.
    if (/\/virtio\d+\/iommu\/[^/]+$/.test(dir)) this.file(path.posix.resolve(dir, '../../features'))
    for (const name of this.src.list(dir)) {
      if (name === 'power') continue
      const p = `${dir}/${name}`
      const type = this.src.entryType(p)
      if (type === 'dir') {
        this.dir(p)
        for (const child of this.src.list(p)) this.entry(`${p}/${child}`)
      } else {
        this.entry(p)
      }
    }
  }

  pciDevices(): void {
    this.dir(PCI_DEVICES_DIR)
    for (const bdf of this.src.list(PCI_DEVICES_DIR)) {
      const entry = `${PCI_DEVICES_DIR}/${bdf}`
      const dir = this.entryDir(entry)
      if (!dir) continue
      this.dir(dir)
      for (const attr of PCI_ATTRIBUTES) this.file(`${dir}/${attr}`)
      for (const name of this.src.list(dir)) if (PCI_LINKS.test(name)) this.link(`${dir}/${name}`)
      for (const vfio of this.src.list(`${dir}/vfio-dev`)) this.file(`${dir}/vfio-dev/${vfio}/dev`)
    }
  }

  /**
   * Mediated devices (src/sysfs/mdev.ts reads these): each parent's class link and its types'
   * attributes and devices/ links, then each mdev's bus link and its mdev_type, driver and
   * iommu_group links and vfio-dev node. The create and remove files are write-only: not copied.
   */
  mdevs(): void {
    this.dir(MDEV_BUS_CLASS)
    for (const name of this.src.list(MDEV_BUS_CLASS)) {
      const parent = this.entryDir(`${MDEV_BUS_CLASS}/${name}`)
      if (!parent) continue
      const types = `${parent}/mdev_supported_types`
      this.dir(types)
      for (const type of this.src.list(types)) {
        const t = `${types}/${type}`
        this.dir(t)
        for (const f of ['name', 'description', 'device_api', 'available_instances']) this.file(`${t}/${f}`)
        this.dir(`${t}/devices`)
        for (const uuid of this.src.list(`${t}/devices`)) this.link(`${t}/devices/${uuid}`)
      }
    }
    this.dir(MDEV_DEVICES_DIR)
    for (const uuid of this.src.list(MDEV_DEVICES_DIR)) {
      const dir = this.entryDir(`${MDEV_DEVICES_DIR}/${uuid}`)
      if (!dir) continue
      this.dir(dir)
      for (const l of ['mdev_type', 'driver', 'iommu_group']) this.link(`${dir}/${l}`)
      for (const vfio of this.src.list(`${dir}/vfio-dev`)) this.file(`${dir}/vfio-dev/${vfio}/dev`)
    }
  }

  /** Every PCI driver with its bound-device links: which drivers exist, and who holds what. */
  drivers(): void {
    const drivers = '/sys/bus/pci/drivers'
    this.dir(drivers)
    for (const name of this.src.list(drivers)) {
      this.dir(`${drivers}/${name}`)
      for (const child of this.src.list(`${drivers}/${name}`)) {
        const p = `${drivers}/${name}/${child}`
        if (this.src.entryType(p) === 'link') this.link(p)
      }
    }
  }

  /**
   * What distribution kernels keep outside /proc: the build configuration when there is no
   * /proc/config.gz, and the list of built-in modules (which have no /sys/module entry when
   * they take no parameters).
   */
  kernelFiles(): void {
    const release = this.src.readText('/proc/sys/kernel/osrelease')
    if (!release || release.includes('/')) return
    this.file(`/boot/config-${release}`)
    this.file(`/lib/modules/${release}/modules.builtin`)
  }

  /**
   * The kernel log, for `faults`: a live host's newest records (at most KMSG_SNAPSHOT_BYTES) as
   * /dev/kmsg gives them, kept as a regular file at that path; a snapshot's copy as it is.
   */
  kernelLog(): void {
    if (!this.src.isLive) return this.file(KMSG)
    let data: Buffer
    try {
      data = captureKmsg()
    } catch (error) {
      this.unreadable.push({path: KMSG, reason: describeReadError(error)})
      return
    }
    fs.mkdirSync(path.dirname(this.dest + KMSG), {recursive: true})
    fs.writeFileSync(this.dest + KMSG, data)
  }

  /**
   * What `audit` reads beyond groups and devices: Thunderbolt/USB4 domains (security level,
   * iommu_dma_protection), vDPA devices with their driver, uacce devices, and idxd work queue modes.
   */
  dmaExposure(): void {
    const tb = '/sys/bus/thunderbolt/devices'
    this.dir(tb)
    for (const d of this.src.list(tb).filter((n) => /^domain\d+$/.test(n))) {
      const real = this.entryDir(`${tb}/${d}`)
      if (real) for (const f of ['iommu_dma_protection', 'security']) this.file(`${real}/${f}`)
    }
    const vdpa = '/sys/bus/vdpa/devices'
    this.dir(vdpa)
    for (const d of this.src.list(vdpa)) {
      const real = this.entryDir(`${vdpa}/${d}`)
      if (real) {
        this.dir(real)
        this.link(`${real}/driver`)
      }
    }
    const uacce = '/sys/class/uacce'
    this.dir(uacce)
    for (const d of this.src.list(uacce)) this.link(`${uacce}/${d}`)
    const dsa = '/sys/bus/dsa/devices'
    this.dir(dsa)
    for (const wq of this.src.list(dsa).filter((n) => /^wq\d+\.\d+$/.test(n))) {
      const real = this.entryDir(`${dsa}/${wq}`)
      if (real) this.file(`${real}/mode`)
    }
  }

  /** Every module directory (loaded or built in), and the parameters of the ones that matter here. */
  modules(): void {
    for (const name of this.src.list('/sys/module')) {
      this.dir(`/sys/module/${name}`)
      if (!MODULES_WITH_PARAMETERS.has(name)) continue
      for (const param of this.src.list(`/sys/module/${name}/parameters`)) {
        this.file(`/sys/module/${name}/parameters/${param}`)
      }
    }
  }

  hugepages(): void {
    for (const size of this.src.list('/sys/kernel/mm/hugepages')) {
      for (const f of HUGEPAGE_FILES) this.file(`/sys/kernel/mm/hugepages/${size}/${f}`)
    }
    const nodes = '/sys/devices/system/node'
    for (const node of this.src.list(nodes).filter((n) => /^node\d+$/.test(n))) {
      this.file(`${nodes}/${node}/cpulist`)
      for (const size of this.src.list(`${nodes}/${node}/hugepages`)) {
        for (const f of HUGEPAGE_FILES) this.file(`${nodes}/${node}/hugepages/${size}/${f}`)
      }
    }
  }

  /**
   * /dev/iommu and /dev/vfio/*: device nodes cannot be copied unprivileged, so each becomes an
   * empty placeholder and its type, mode, owner and numbers go into the manifest.
   */
  devNodes(): DevNode[] {
    const paths = [
      '/dev/iommu',
      ...this.src
        .list('/dev/vfio')
        .filter((n) => n !== 'devices')
        .map((n) => `/dev/vfio/${n}`),
      ...this.src.list('/dev/vfio/devices').map((n) => `/dev/vfio/devices/${n}`),
    ]
    const nodes: DevNode[] = []
    for (const p of paths) {
      const node = this.src.devNode(p)
      if (!node) continue
      nodes.push(node)
      fs.mkdirSync(path.dirname(this.dest + p), {recursive: true})
      fs.writeFileSync(this.dest + p, '')
    }
    return nodes
  }

  /**
   * The IOMMU's debugfs (`snapshot --debugfs`, root only): VT-d's tables and registers, and each
   * device's (and PASID's) page-table dump, cut at a line's end past PAGE_DUMP_BYTES.
   */
  debugfs(): void {
    for (const f of INTEL_DEBUGFS_FILES) this.file(`${INTEL_DEBUGFS_DIR}/${f}`)
    for (const bdf of this.src.list(INTEL_DEBUGFS_DIR).filter((n) => BDF_PATTERN.test(n))) {
      const dir = `${INTEL_DEBUGFS_DIR}/${bdf}`
      this.file(`${dir}/domain_translation_struct`, PAGE_DUMP_BYTES)
      for (const pasid of this.src.list(dir).filter((n) => /^[0-9a-f]{1,5}$/.test(n)))
        this.file(`${dir}/${pasid}/domain_translation_struct`, PAGE_DUMP_BYTES)
    }
    if (this.src.isDirectory(AMD_DEBUGFS_DIR)) this.amdDebugfs()
  }

  /**
   * AMD-Vi's debugfs answers for a choice written first (devid for devtbl, an offset for a
   * unit's mmio), so a copy of the files keeps one answer. On the live host the snapshot makes
   * the reads domains list and units show make, and keeps each answer they accept where an
   * offline read looks for it (chosenPath); from another root it copies those answers.
   */
  private amdDebugfs(): void {
    const units = this.src.list(AMD_DEBUGFS_DIR).filter((n) => /^iommu\d{2,3}$/.test(n))
    this.file(`${AMD_DEBUGFS_DIR}/devid`)
    for (const u of units) this.file(`${AMD_DEBUGFS_DIR}/${u}/mmio`)
    if (!this.src.isLive) {
      for (const answer of ['devtbl', ...units.map((u) => `${u}/mmio`)]) {
        const dir = `${AMD_DEBUGFS_DIR}/${answer}.chosen`
        for (const choice of this.src.list(dir).filter((n) => /^[0-9a-fx:.]{1,16}$/.test(n)))
          this.file(`${dir}/${choice}`)
      }
      return
    }
    const keep = (hostPath: string, text: string) => {
      fs.mkdirSync(path.dirname(this.dest + hostPath), {recursive: true})
      fs.writeFileSync(this.dest + hostPath, text)
    }
    recordChosen(() => {
      liveDomains(this.src)
      for (const u of readUnits(this.src)) if (u.kind === 'amd-vi') readUnitDetail(this.src, u.name)
    }, keep)
  }

  /** A bus or class entry: a link copied as a link, and the directory it leads to (or the entry itself). */
  private entryDir(entry: string): string | null {
    return this.src.entryType(entry) === 'link' ? this.link(entry) : entry
  }

  /** Copies a file or a link, whichever is there. */
  private entry(p: string): void {
    const type = this.src.entryType(p)
    if (type === 'link') this.link(p)
    else if (type === 'file') this.file(p)
  }

  dir(p: string): void {
    if (this.src.isDirectory(p)) fs.mkdirSync(this.dest + p, {recursive: true})
  }

  /**
   * Copies a file's bytes; absent files are skipped, unreadable ones recorded. With a bound, a
   * longer file is cut at the end of a line before it, and the cut recorded.
   */
  file(p: string, bound?: number): void {
    let data: Buffer | null
    try {
      data = this.src.readBytes(p)
    } catch (error) {
      this.unreadable.push({path: p, reason: describeReadError(error)})
      return
    }
    if (data === null) return
    if (bound !== undefined && data.length > bound) {
      const kept = data.lastIndexOf(0x0a, bound - 1) + 1
      this.cut.push({path: p, keptBytes: kept, totalBytes: data.length})
      data = data.subarray(0, kept)
    }
    if (path.posix.basename(p) === 'config' && !this.src.isSnapshot) this.checkConfigComplete(p, data.length)
    fs.mkdirSync(path.dirname(this.dest + p), {recursive: true})
    fs.writeFileSync(this.dest + p, data)
  }

  /** Without CAP_SYS_ADMIN the kernel returns only the first 64 bytes of config space. */
  private checkConfigComplete(p: string, length: number): void {
    const size = this.src.stat(p)?.size ?? 0
    if (length < size) {
      this.unreadable.push({
        path: p,
        reason: `only ${length} of ${size} bytes of config space readable without root (CAP_SYS_ADMIN)`,
      })
    }
  }

  /** Copies a symlink as written and returns the host path it points to. */
  link(p: string): string | null {
    const target = this.src.readLink(p)
    if (target === null) return null
    const out = this.dest + p
    if (!fs.existsSync(path.dirname(out))) fs.mkdirSync(path.dirname(out), {recursive: true})
    try {
      fs.symlinkSync(target, out)
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw error
    }
    return this.src.resolveLink(p)
  }
}

function describeReadError(error: unknown): string {
  const errno = errnoOf(error)
  if (errno === 'EACCES' || errno === 'EPERM') return `${errno}: permission denied (readable by root only)`
  return errno ? `${errno}: ${(error as Error).message}` : String(error)
}

function mergeUnreadable(a: Unreadable[], b: Unreadable[]): Unreadable[] {
  const byPath = new Map([...a, ...b].map((u) => [u.path, u]))
  return [...byPath.values()].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0))
}
