import * as os from 'node:os'
import * as path from 'node:path'

import {UNITS_DIR} from '../sysfs/inventory.js'
import {PciDeviceSysfs} from '../sysfs/pci.js'
import {Root} from '../sysfs/root.js'

/** Why a device must not be taken off its driver unless the user says --force. */
export interface Interlock {
  bdf: string
  kind: 'iommu' | 'mounted' | 'boot-display' | 'network'
  reason: string
}

interface Mount {
  /** Real sysfs paths of the devices behind it (block devices, their slaves, a 9p/virtiofs transport). */
  devices: string[]
  what: string
}

interface NetIface {
  name: string
  sysfsPath: string
  use: string | null
}

/**
 * What the host is using that lives on PCI devices: IOMMU units, mounted filesystems and swap,
 * network interfaces with an address or a default route. Read once, lazily.
 */
export class InterlockFacts {
  private iommus?: string[]
  private mounts?: Mount[]
  private ifaces?: NetIface[]

  constructor(private readonly root: Root) {}

  /** What a snapshot cannot say (mounts and addresses are not in one), for the plan's warnings. */
  get unchecked(): string | null {
    return this.root.isSnapshot
      ? 'a snapshot holds no mount table or network addresses: mounted disks and NICs in use were not checked'
      : null
  }

  check(dev: PciDeviceSysfs): Interlock[] {
    const found: Interlock[] = []
    const inside = (p: string) => p === dev.sysfsPath || p.startsWith(dev.sysfsPath + '/')
    const add = (kind: Interlock['kind'], reason: string) => found.push({bdf: dev.bdf, kind, reason})
    const unit = this.iommuUnits().find(inside)
    if (unit || (dev.classCode !== null && dev.classCode >> 8 === PCI_CLASS_SYSTEM_IOMMU)) {
      add(
        'iommu',
        unit
          ? `it is the IOMMU ${path.posix.basename(unit)}: unbinding it takes DMA translation away from every device behind it (unbinding virtio-iommu-pci crashed a 7.2 kernel)`
          : 'it is an IOMMU (class 0806): unbinding it takes DMA translation away from the devices behind it',
      )
    }
    for (const m of this.mountTable()) {
      if (m.devices.some(inside)) add('mounted', `it holds ${m.what}`)
    }
    if (dev.bootVga) add('boot-display', 'it is the boot display (boot_vga = 1): the console goes dark')
    for (const i of this.interfaces()) {
      if (i.use && inside(i.sysfsPath)) add('network', `its network interface ${i.name} ${i.use}`)
    }
    return found
  }

  private iommuUnits(): string[] {
    this.iommus ??= this.root
      .list(UNITS_DIR)
      .map((name) => this.root.resolveLink(`${UNITS_DIR}/${name}`))
      .filter((p): p is string => p !== null)
    return this.iommus
  }

  private mountTable(): Mount[] {
    if (this.mounts) return this.mounts
    const mounts: Mount[] = []
    for (const line of (this.root.readText('/proc/self/mountinfo') ?? '').split('\n')) {
      const [pre, post] = line.split(' - ')
      if (!pre || !post) continue
      const f = pre.split(' ')
      const [fstype, source] = post.split(' ')
      const majmin = f[2] ?? ''
      const point = unescapeMount(f[4] ?? '')
      const what = `the filesystem mounted on ${point} (${fstype} on ${unescapeMount(source ?? '?')})`
      if (!majmin.startsWith('0:')) {
        mounts.push({devices: this.blockDevices(`/sys/dev/block/${majmin}`), what})
      } else if ((fstype === '9p' || fstype === 'virtiofs') && source) {
        mounts.push({devices: this.transportsOf(fstype, unescapeMount(source)), what})
      }
    }
    for (const line of (this.root.readText('/proc/swaps') ?? '').split('\n').slice(1)) {
      const [file, type] = line.split(/\s+/)
      if (type === 'partition' && file?.startsWith('/dev/')) {
        const dev = this.blockDevices(`/sys/class/block/${path.posix.basename(file)}`)
        mounts.push({devices: dev, what: `the swap on ${file}`})
      }
    }
    this.mounts = mounts
    return mounts
  }

  /**
   * A block device's real sysfs path and those of the devices under it (dm, md: its slaves).
   * A snapshot's slaves links may loop or fan out: each device is visited once, at most
   * MAX_SLAVE_DEPTH deep and MAX_SLAVE_DEVICES in all.
   */
  private blockDevices(link: string): string[] {
    const found: string[] = []
    const walk = (hostLink: string, depth: number) => {
      const real = this.root.resolveLink(hostLink)
      if (!real || found.includes(real) || found.length >= MAX_SLAVE_DEVICES) return
      found.push(real)
      if (depth >= MAX_SLAVE_DEPTH) return
      // A partition's slaves are its disk's; /sys/class/block/sda1/../slaves is sda's.
      for (const s of this.root.list(`${real}/slaves`)) walk(`${real}/slaves/${s}`, depth + 1)
    }
    walk(link, 0)
    return found
  }

  /** The virtio device that carries a 9p mount tag or a virtiofs tag. */
  private transportsOf(fstype: string, tag: string): string[] {
    const found: string[] = []
    if (fstype === '9p') {
      for (const v of this.root.list('/sys/bus/virtio/devices')) {
        const dir = `/sys/bus/virtio/devices/${v}`
        if (this.root.readText(`${dir}/mount_tag`)?.replace(/\0/g, '') === tag) {
          const real = this.root.resolveLink(dir)
          if (real) found.push(real)
        }
      }
    } else {
      for (const n of this.root.list('/sys/fs/virtiofs')) {
        if (this.root.readText(`/sys/fs/virtiofs/${n}/tag`) === tag) {
          const real = this.root.resolveLink(`/sys/fs/virtiofs/${n}/device`)
          if (real) found.push(real)
        }
      }
    }
    return found
  }

  private interfaces(): NetIface[] {
    if (this.ifaces) return this.ifaces
    const {defaults, routes} = this.routes()
    const addressed = this.addressed()
    const useOf = (name: string) =>
      defaults.has(name)
        ? 'carries the default route'
        : addressed.has(name)
          ? `has the address ${addressed.get(name)}`
          : routes.has(name)
            ? `has the route ${routes.get(name)}`
            : null
    this.ifaces = this.root.list('/sys/class/net').flatMap((name) => {
      const sysfsPath = this.root.resolveLink(`/sys/class/net/${name}`)
      if (!sysfsPath) return []
      // A bond or bridge port is in use when its master is.
      const master = this.root.linkName(`/sys/class/net/${name}/master`)
      const use =
        useOf(name) ?? (master && useOf(master) ? `is a port of ${master}, which ${useOf(master)}` : null)
      return [{name, sysfsPath, use}]
    })
    return this.ifaces
  }

  /**
   * Interfaces named by an IPv4 or IPv6 default route (/proc/net/route, /proc/net/ipv6_route),
   * and those with any IPv4 route: an interface that is up with an address has its prefix route
   * here even without a carrier, where getifaddrs leaves it out.
   */
  private routes(): {defaults: Set<string>; routes: Map<string, string>} {
    const names = new Set<string>()
    const routes = new Map<string, string>()
    for (const line of (this.root.readText('/proc/net/route') ?? '').split('\n').slice(1)) {
      const f = line.split(/\s+/)
      if (!f[0] || f[0] === 'lo' || !f[1] || !f[7]) continue
      if (f[1] === '00000000' && f[7] === '00000000') names.add(f[0])
      else if (!routes.has(f[0])) routes.set(f[0], `${ipv4(f[1])}/${prefixLength(f[7])}`)
    }
    for (const line of (this.root.readText('/proc/net/ipv6_route') ?? '').split('\n')) {
      const f = line.trim().split(/\s+/)
      // dest, dest prefix length, ..., flags (RTF_REJECT 0x200 is the "unreachable" default on lo), iface
      if (
        f[0] === '0'.repeat(32) &&
        f[1] === '00' &&
        f[9] &&
        f[9] !== 'lo' &&
        !(Number.parseInt(f[8] ?? '0', 16) & 0x200)
      ) {
        names.add(f[9])
      }
    }
    return {defaults: names, routes}
  }

  /**
   * Interfaces with an address other than loopback and IPv6 link-local (those come with every
   * link): IPv6 from /proc/net/if_inet6; IPv4 has no procfs listing, so it comes from the live
   * host's getifaddrs (os.networkInterfaces), which lists interfaces that are up.
   */
  private addressed(): Map<string, string> {
    const found = new Map<string, string>()
    for (const line of (this.root.readText('/proc/net/if_inet6') ?? '').split('\n')) {
      const [hex, , , scope, , name] = line.trim().split(/\s+/)
      if (!hex || !name || scope !== '00') continue
      found.set(
        name,
        hex
          .match(/.{4}/g)!
          .join(':')
          .replace(/(^|:)0{1,3}/g, '$1'),
      )
    }
    if (this.root.dir === '/') {
      for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
        const a = addrs?.find((x) => !x.internal && !(x.family === 'IPv6' && x.scopeid !== 0))
        if (a && !found.has(name)) found.set(name, a.cidr ?? a.address)
      }
    }
    return found
  }
}

/** Stacking deeper than dm on md on partitions is not real; a snapshot that claims it is not trusted further. */
const MAX_SLAVE_DEPTH = 8
const MAX_SLAVE_DEVICES = 256

/** PCI class 0x0806: base class system peripheral, subclass IOMMU (include/linux/pci_ids.h). */
const PCI_CLASS_SYSTEM_IOMMU = 0x0806

/** /proc/net/route's hex words are in host (little-endian) byte order. */
function ipv4(hex: string): string {
  const n = Number.parseInt(hex, 16)
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.')
}

function prefixLength(maskHex: string): number {
  let n = Number.parseInt(maskHex, 16) >>> 0
  let bits = 0
  while (n) {
    bits += n & 1
    n >>>= 1
  }
  return bits
}

/** Mount fields escape space, tab, newline and backslash as octal (\040). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)))
}
