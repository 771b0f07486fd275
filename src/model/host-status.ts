import {DEFAULT_HOST_CONFIG, Desired, LoadedConfig, resolveConfig} from '../configure/host-config.js'
import {readDriverState} from '../configure/mover.js'
import {numVfsPath} from '../configure/transaction.js'
import {Bdf} from '../records.js'
import {GROUPS_DIR, PCI_DEVICES_DIR} from '../sysfs/inventory.js'
import {moduleStates} from '../sysfs/kconfig.js'
import {Root} from '../sysfs/root.js'
import {isVfioDriver} from '../vfio/driver.js'
import {PciTopology} from './topology.js'

/** One thing a config asks for, against what the host has. */
export interface HostStatusItem {
  /** The config's entry: devices[0] (bdf 0000:00:03.0). */
  entry: string
  kind: 'driver' | 'vfs' | 'group-type' | 'hugepages'
  /** The device (BDF), group (group N) or nr_hugepages file it is about. */
  target: string
  want: string
  /** What the host has; null when the device (a VF not made yet) or file is not there. */
  live: string | null
  ok: boolean
  /** How to put it right; null when it is. */
  fix: string | null
}

/** `host status`: the config against the live host (schemas/host-status.json). */
export interface HostStatusRecord {
  config: string
  /** Whether anything differs: the command exits 4 then. */
  drift: boolean
  items: HostStatusItem[]
  summary: string
}

const NONE = '(none)'

/** Compares a config with the host, item by item, and says how to put each difference right. */
export function hostStatus(root: Root, config: LoadedConfig): HostStatusRecord {
  const desired: Desired = resolveConfig(root, config)
  const items: HostStatusItem[] = []
  const topology = new PciTopology(root)
  const apply = (bdf?: string) =>
    `Run \`iommuctl host apply${config.file === DEFAULT_HOST_CONFIG ? '' : ` --config ${config.file}`}${bdf ? ` --device ${bdf}` : ''}\`.`
  const driverItem = (entry: string, bdf: Bdf, want: string | null) => {
    const there = root.exists(`${PCI_DEVICES_DIR}/${bdf}`)
    const live = there ? readDriverState(root, bdf).driver : null
    const ok = there && live === want
    items.push({
      entry,
      kind: 'driver',
      target: bdf,
      want: want ?? NONE,
      live: there ? (live ?? NONE) : null,
      ok,
      fix: ok
        ? null
        : there && live && want && isVfioDriver(want) && !isVfioDriver(live)
          ? vfioFix(root, bdf, live, apply(bdf))
          : apply(bdf),
    })
  }
  for (const d of desired.devices) {
    for (const bdf of d.bdfs) driverItem(d.entry, bdf, d.driver!)
    if (!d.group || d.driver === null || !isVfioDriver(d.driver)) continue
    // With group: the endpoints of its group go too (bridges stay, as a bind leaves them).
    for (const bdf of d.bdfs) {
      const group = root.linkName(`${PCI_DEVICES_DIR}/${bdf}/iommu_group`)
      for (const mate of group === null ? [] : root.list(`${GROUPS_DIR}/${group}/devices`)) {
        const node = topology.get(mate)
        if (
          d.bdfs.includes(mate) ||
          (node && topology.isBridge(node)) ||
          items.some((i) => i.target === mate)
        )
          continue
        driverItem(d.entry, mate, d.driver)
      }
    }
  }
  for (const v of desired.vfs) {
    const live = root.readText(numVfsPath(v.pf))
    const ok = live === String(v.count)
    items.push({
      entry: v.entry,
      kind: 'vfs',
      target: v.pf,
      want: String(v.count),
      live,
      ok,
      fix: ok ? null : apply(v.pf),
    })
    for (const vf of v.vfs) if (vf.driver !== undefined) driverItem(v.entry, vf.bdf, vf.driver)
  }
  for (const g of desired.groups) {
    const live = root.readText(`${GROUPS_DIR}/${g.group}/type`)
    const ok = live === g.type
    items.push({
      entry: g.entry,
      kind: 'group-type',
      target: `group ${g.group}`,
      want: g.type,
      live,
      ok,
      fix: ok ? null : apply(),
    })
  }
  for (const h of desired.hugepages) {
    const live = root.readText(h.path)
    const ok = live === String(h.count)
    items.push({
      entry: h.entry,
      kind: 'hugepages',
      target: h.path,
      want: String(h.count),
      live,
      ok,
      fix: ok ? null : apply(),
    })
  }
  const off = items.filter((i) => !i.ok)
  return {
    config: config.file,
    drift: off.length > 0,
    items,
    summary: off.length
      ? `${off.length} of ${items.length} differ from ${config.file}.`
      : `The host is as ${config.file} says (${items.length} checked).`,
  }
}

/**
 * A kernel driver has the device the config wants on vfio-pci: at boot it got there first. The
 * fix makes vfio-pci claim the device's id before it: `vfio-pci.ids=` on the kernel command line
 * when vfio-pci is built in (a module parameter given as module.param=, kernel-parameters.txt), a
 * modprobe.d softdep (modprobe.d(5)) with `options vfio-pci ids=` when it is a module.
 */
function vfioFix(root: Root, bdf: Bdf, driver: string, apply: string): string {
  const id = ['vendor', 'device']
    .map((f) => (root.readText(`${PCI_DEVICES_DIR}/${bdf}/${f}`) ?? '').replace(/^0x/, ''))
    .join(':')
  const builtIn = moduleStates(root, ['vfio_pci']).get('vfio_pci') === 'built in'
  return builtIn
    ? `${driver} took ${bdf} at boot. ${apply} For boot, vfio-pci is built in: add vfio-pci.ids=${id} to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub).`
    : `${driver} took ${bdf} at boot. ${apply} For boot, vfio-pci is a module: put "softdep ${driver} pre: vfio-pci" and "options vfio-pci ids=${id}" in /etc/modprobe.d/vfio-pci.conf (then update-initramfs -u if ${driver} is in the initramfs).`
}
