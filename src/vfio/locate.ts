import {ExitCode, IommuctlError} from '../errors.js'
import {noSuchDevice, readPciDevice, requireBdfs} from '../sysfs/pci.js'
import {UUID_PATTERN} from '../sysfs/inventory.js'
import {noSuchMdev, readMdevDevice} from '../sysfs/mdev.js'
import {Root} from '../sysfs/root.js'
import {isVfioDriver} from './driver.js'

/** Where a device's VFIO interfaces are, once it is known to be on a VFIO driver. */
export interface VfioLocation {
  bdf: string
  driver: string
  group: number | null
  /** /dev/vfio/devices/vfioN, the device's cdev (CONFIG_VFIO_DEVICE_CDEV). */
  cdev: string | null
  /** /dev/vfio/GROUP, for the legacy container path. */
  groupNode: string | null
}

/**
 * Validates a BDF and finds its VFIO nodes on the live host, or says precisely why not:
 * ioctls need the running kernel, a VFIO driver, and the node the path uses.
 */
export function locateVfioDevice(root: Root, bdf: string, need: 'cdev' | 'group'): VfioLocation {
  requireBdfs([bdf])
  requireLiveHost(root)
  const dev = readPciDevice(root, bdf)
  if (!dev) throw noSuchDevice(bdf)
  if (!isVfioDriver(dev.driver)) {
    const sysfs = `/sys/bus/pci/devices/${bdf}`
    const moves = [
      `echo vfio-pci > ${sysfs}/driver_override`,
      ...(dev.driver ? [`echo ${bdf} > ${sysfs}/driver/unbind`] : []),
      `echo ${bdf} > /sys/bus/pci/drivers_probe`,
    ]
    throw new IommuctlError(
      'NOT_ON_VFIO',
      `${bdf} is ${dev.driver ? `bound to ${dev.driver}` : 'bound to no driver'}, not to vfio-pci: the kernel gives VFIO access only to devices on a VFIO driver.`,
      {
        path: `${sysfs}/driver`,
        suggestion: `Move it (every device of IOMMU group ${dev.group ?? '?'} must move too), as root: ${moves.join(' && ')}`,
      },
    )
  }
  const groupNode = dev.group === null ? null : `/dev/vfio/${dev.group}`
  if (need === 'cdev' && !dev.vfioCdev) {
    throw new IommuctlError(
      'NO_VFIO_CDEV',
      `${bdf} has no VFIO device node (no vfio-dev/ in sysfs): the kernel lacks CONFIG_VFIO_DEVICE_CDEV.`,
      {
        exit: ExitCode.unavailable,
        suggestion: 'Use the legacy container path: --legacy.',
      },
    )
  }
  if (need === 'group' && !groupNode) {
    throw new IommuctlError('NO_IOMMU_GROUP', `${bdf} is in no IOMMU group, so it has no VFIO group node.`, {
      exit: ExitCode.unavailable,
      suggestion: 'See `iommuctl status`: the IOMMU must be on for VFIO.',
    })
  }
  return {bdf, driver: dev.driver, group: dev.group, cdev: dev.vfioCdev, groupNode}
}

/**
 * The VFIO cdev of a device a plan or session names: a PCI address, found as above, or an mdev's
 * UUID. An mdev is a VFIO device from birth (its parent's driver registers it, with
 * vfio_register_emulated_iommu_dev); without a cdev its driver is not a VFIO one or the kernel
 * lacks CONFIG_VFIO_DEVICE_CDEV.
 */
export function locateVfioCdev(root: Root, device: string): string {
  if (!UUID_PATTERN.test(device)) return locateVfioDevice(root, device, 'cdev').cdev!
  requireLiveHost(root)
  const mdev = readMdevDevice(root, device)
  if (!mdev) throw noSuchMdev(device)
  if (!mdev.vfioCdev) {
    throw new IommuctlError(
      'NO_VFIO_CDEV',
      `mdev ${device} has no VFIO device node (no vfio-dev/ in sysfs): its driver (${mdev.driver ?? 'none'}) did not register it with VFIO, or the kernel lacks CONFIG_VFIO_DEVICE_CDEV.`,
      {exit: ExitCode.unavailable, path: mdev.sysfsPath},
    )
  }
  return mdev.vfioCdev
}

function requireLiveHost(root: Root): void {
  if (!root.isSnapshot && root.dir === '/') return
  throw new IommuctlError(
    'NEEDS_LIVE_HOST',
    `This talks to the running kernel; --root ${root.source} is not the live host.`,
    {
      exit: ExitCode.usage,
      suggestion: 'Run it on the host itself, without --root.',
    },
  )
}
