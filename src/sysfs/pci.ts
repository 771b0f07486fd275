import * as path from 'node:path'

import {ExitCode, IommuctlError} from '../errors.js'
import {printable} from '../printable.js'
import {isVfioDriver} from '../vfio/driver.js'
import {BDF_PATTERN, groupNumber, PCI_DEVICES_DIR} from './inventory.js'
import {Root} from './root.js'

/** Refuses anything that is not a BDF (a usage error), before any path is built from it. */
export function requireBdfs(bdfs: string[]): void {
  const bad = bdfs.filter((b) => !BDF_PATTERN.test(b))
  if (bad.length === 0) return
  throw new IommuctlError(
    'BAD_BDF',
    `${bad.map((b) => JSON.stringify(b)).join(', ')} ${bad.length > 1 ? 'are not PCI addresses' : 'is not a PCI address'}.`,
    {
      exit: ExitCode.usage,
      suggestion:
        'Give domain:bus:device.function in lowercase hex, e.g. 0000:00:03.0 (see `iommuctl devices`).',
    },
  )
}

export function noSuchDevice(bdf: string): IommuctlError {
  return new IommuctlError('NO_SUCH_DEVICE', `No PCI device ${bdf} on this host.`, {
    path: `${PCI_DEVICES_DIR}/${bdf}`,
    suggestion: 'List the devices with `iommuctl devices`.',
  })
}

/** A PCI device's sysfs attributes and links, as read; absent ones are null. */
export interface PciDeviceSysfs {
  bdf: string
  /** The device's real sysfs directory, e.g. /sys/devices/pci0000:00/0000:00:07.0/0000:04:01.0. */
  sysfsPath: string
  /** BDFs of the bridges between the root complex and the device, nearest the root first. */
  upstream: string[]
  vendor: number | null
  device: number | null
  subsystemVendor: number | null
  subsystemDevice: number | null
  classCode: number | null
  revision: number | null
  driver: string | null
  driverOverride: string | null
  group: number | null
  unit: string | null
  numaNode: number | null
  resetMethods: string[] | null
  bootVga: boolean | null
  sriovTotalVfs: number | null
  sriovNumVfs: number | null
  physfn: string | null
  virtfns: string[]
  vfioCdev: string | null
  config: Buffer | null
}

/** What a list of group members shows: enough to name a device and its driver. */
export type PciBriefSysfs = Pick<
  PciDeviceSysfs,
  'bdf' | 'vendor' | 'device' | 'classCode' | 'driver' | 'unit'
>

/** What explaining a shared group needs: where the device sits, and its config space. */
export type PciPlacementSysfs = Pick<PciDeviceSysfs, 'bdf' | 'sysfsPath' | 'upstream' | 'config'>

/**
 * The device's real sysfs directory, from the link in /sys/bus/pci/devices. Whether it exists is
 * left to the reads that follow: a stat up front costs a syscall per device (bench/inspect.js).
 */
function deviceDir(root: Root, bdf: string): string {
  const entry = `${PCI_DEVICES_DIR}/${bdf}`
  return root.resolveLink(entry) ?? entry
}

/** The ids a device's modalias carries, in the names PciDeviceSysfs gives them. */
type PciIdsSysfs = Pick<
  PciDeviceSysfs,
  'vendor' | 'device' | 'subsystemVendor' | 'subsystemDevice' | 'classCode'
>

/** "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00", as drivers/pci/pci-sysfs.c prints it. */
const MODALIAS =
  /^pci:v([0-9A-F]{8})d([0-9A-F]{8})sv([0-9A-F]{8})sd([0-9A-F]{8})bc([0-9A-F]{2})sc([0-9A-F]{2})i([0-9A-F]{2})$/

/**
 * The ids and class of a device. The kernel prints modalias from the same pci_dev fields as the
 * vendor, device, subsystem_vendor, subsystem_device and class attributes: one file to read
 * instead of five (bench/inspect.js). A tree without it (or with one that is not a PCI
 * modalias) falls back to those attributes, each null when absent.
 */
function readIds(text: (name: string) => string | null): PciIdsSysfs {
  const m = MODALIAS.exec(text('modalias') ?? '')
  if (m) {
    const [vendor, device, subsystemVendor, subsystemDevice, cls, sub, progIf] = m
      .slice(1)
      .map((x) => Number.parseInt(x, 16)) as [number, number, number, number, number, number, number]
    return {vendor, device, subsystemVendor, subsystemDevice, classCode: (cls << 16) | (sub << 8) | progIf}
  }
  const hex = (name: string) => parseNumber(text(name), 16)
  return {
    vendor: hex('vendor'),
    device: hex('device'),
    subsystemVendor: hex('subsystem_vendor'),
    subsystemDevice: hex('subsystem_device'),
    classCode: hex('class'),
  }
}

/**
 * Reads only the ids and the driver and IOMMU links: a few syscalls, where a full read makes
 * some twenty. `groups` needs no more for groups of one device (bench/inspect.js).
 */
export function readPciBrief(root: Root, bdf: string): PciBriefSysfs | null {
  // Through the bus's link, which the kernel follows: resolving it first would cost a readlink.
  const dir = `${PCI_DEVICES_DIR}/${bdf}`
  const ids = readIds((name) => root.readText(`${dir}/${name}`))
  // Every PCI device has a vendor attribute: only without one can the device be missing.
  if (ids.vendor === null && !root.isDirectory(dir)) return null
  return {
    bdf,
    vendor: ids.vendor,
    device: ids.device,
    classCode: ids.classCode,
    driver: root.linkName(`${dir}/driver`),
    unit: root.linkName(`${dir}/iommu`),
  }
}

/**
 * Reads only the config space and where the device sits: the sysfs link and one file, where a
 * full read makes some twenty syscalls. `groups` needs no more to explain a shared group.
 */
export function readPciPlacement(root: Root, bdf: string): PciPlacementSysfs | null {
  const dir = deviceDir(root, bdf)
  const config = readConfig(root, `${dir}/config`)
  // Every PCI device has a config attribute: only without one can the device be missing.
  if (config === null && !root.isDirectory(dir)) return null
  return {bdf, sysfsPath: dir, upstream: upstreamOf(dir), config}
}

/** PCI_CLASS_DISPLAY_VGA: the kernel shows boot_vga only for this class (pci_dev_attr_is_visible). */
const PCI_CLASS_DISPLAY_VGA = 0x0300

/** Offset of the revision ID in the config header (include/uapi/linux/pci_regs.h). */
const PCI_REVISION_ID = 8

/**
 * Reads one device's attributes; null when the BDF names no device under this root. Optional
 * attributes are tried, not listed first: a missing one costs one failed syscall, where listing
 * the directory (some 40 entries) cost more than all of them together (bench/inspect.js).
 */
export function readPciDevice(root: Root, bdf: string): PciDeviceSysfs | null {
  const dir = deviceDir(root, bdf)
  const text = (name: string) => root.readText(`${dir}/${name}`)
  const link = (name: string) => root.linkName(`${dir}/${name}`)
  const ids = readIds(text)
  // Every PCI device has a modalias (or vendor) attribute: only without one can it be missing.
  if (ids.vendor === null && !root.isDirectory(dir)) return null
  const override = text('driver_override')
  const driver = link('driver')
  const group = groupOf(root, dir)
  // Only a device on a VFIO driver (vfio-pci or a variant: mlx5_vfio_pci, ...) has a vfio-dev directory.
  const vfio = isVfioDriver(driver)
    ? root.list(`${dir}/vfio-dev`).find((n) => /^vfio\d+$/.test(n))
    : undefined
  const resetMethod = text('reset_method')
  const bootVga =
    ids.classCode !== null && ids.classCode >> 8 === PCI_CLASS_DISPLAY_VGA ? text('boot_vga') : null
  // The sriov_* attributes and virtfnN links exist only on a physical function.
  const sriovTotalVfs = parseNumber(text('sriov_totalvfs'), 10)
  const config = readConfig(root, `${dir}/config`)
  return {
    bdf,
    sysfsPath: dir,
    upstream: upstreamOf(dir),
    ...ids,
    // pci_setup_device() copies the revision attribute from this config byte: one file fewer.
    revision:
      config && config.length > PCI_REVISION_ID
        ? config[PCI_REVISION_ID]!
        : parseNumber(text('revision'), 16),
    driver,
    driverOverride: override === null || override === '(null)' ? null : override,
    group,
    unit: link('iommu'),
    numaNode: parseNumber(text('numa_node'), 10),
    resetMethods: resetMethod === null ? null : resetMethod.split(/\s+/).filter(Boolean),
    bootVga: bootVga === null ? null : bootVga === '1',
    sriovTotalVfs,
    sriovNumVfs: sriovTotalVfs === null ? null : parseNumber(text('sriov_numvfs'), 10),
    physfn: bdfLink(root, `${dir}/physfn`),
    virtfns: sriovTotalVfs === null ? [] : virtfnsOf(root, dir),
    vfioCdev: vfio ? `/dev/vfio/devices/${vfio}` : null,
    config,
  }
}

/** A physical function's VFs, from its virtfnN links in N order. */
function virtfnsOf(root: Root, dir: string): string[] {
  return root
    .list(dir)
    .filter((n) => /^virtfn\d+$/.test(n))
    .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)))
    .map((n) => bdfLink(root, `${dir}/${n}`))
    .filter((n): n is string => n !== null)
}

/**
 * The group of a device, from its iommu_group link; null when it has none, or (with a warning)
 * when the link does not end in a group number: a link to / is not group 0.
 */
function groupOf(root: Root, dir: string): number | null {
  const name = root.linkName(`${dir}/iommu_group`)
  if (name === null) return null
  const group = groupNumber(name)
  if (group === null) {
    root.warn(
      `${printable(dir)}/iommu_group: ignored, its target ${printable(JSON.stringify(name))} is not a group number.`,
    )
  }
  return group
}

/** The device a physfn or virtfnN link names; null, with a warning, when that is not a PCI address. */
function bdfLink(root: Root, link: string): string | null {
  const name = root.linkName(link)
  if (name === null || BDF_PATTERN.test(name)) return name
  root.warn(
    `${printable(link)}: ignored, its target ${printable(JSON.stringify(name))} is not a PCI address.`,
  )
  return null
}

/** The BDFs of the bridges above a device's sysfs directory, nearest the root first. */
function upstreamOf(dir: string): string[] {
  return path.posix
    .dirname(dir)
    .split('/')
    .filter((c) => BDF_PATTERN.test(c))
}

/**
 * Config space; null when absent or unreadable (the snapshot's manifest or stat says why), or
 * refused as no config space (a FIFO, a link to /dev/zero, over 4096 bytes): with a warning.
 */
function readConfig(root: Root, file: string): Buffer | null {
  try {
    return root.readBytes(file)
  } catch (error) {
    if (error instanceof IommuctlError) root.warn(error.message)
    return null
  }
}

function parseNumber(text: string | null, radix: 10 | 16): number | null {
  if (text === null || text === '') return null
  const n = radix === 16 ? Number.parseInt(text.replace(/^0x/i, ''), 16) : Number.parseInt(text, 10)
  return Number.isNaN(n) ? null : n
}
