// The checks made on every device before anything is opened for a hand-off (exec, fds send, a
// plan's handoff list): reads sysfs and /proc only, no ffi-rs, so a refusal costs nothing and
// leaves nothing open.

import {ExitCode, IommuctlError} from '../errors.js'
import {readGroup} from '../model/groups.js'
import {describeHolders} from '../model/holders.js'
import {Bdf} from '../records.js'
import {scanHolders} from '../sysfs/holders.js'
import {noSuchDevice, readPciDevice, requireBdfs} from '../sysfs/pci.js'
import {Root} from '../sysfs/root.js'

/** A device ready to be handed over: on a VFIO driver, in a viable group, with a cdev nobody holds. */
export interface HandoffDevice {
  bdf: Bdf
  driver: string
  group: number
  /** /dev/vfio/devices/vfioN. */
  cdev: string
  /** The descriptor number the child finds it at. */
  fd: number
}

/**
 * Checks each device in order and says what to do about the first that fails: the BDF's form,
 * an IOMMU group (exit 3 without one), a VFIO driver (the `devices bind` that fixes it), a viable
 * group (the blockers named), a cdev (exit 3 without CONFIG_VFIO_DEVICE_CDEV), and, on the live
 * host, no other process holding it. `firstFd` numbers them in order.
 */
export function checkHandoffDevices(root: Root, bdfs: readonly string[], firstFd: number): HandoffDevice[] {
  requireBdfs([...bdfs])
  const twice = bdfs.find((b, i) => bdfs.indexOf(b) !== i)
  if (twice)
    throw new IommuctlError('USAGE', `${twice} is named twice: a device is handed over once.`, {
      exit: ExitCode.usage,
    })
  const live = !root.isSnapshot && root.dir === '/'
  return bdfs.map((bdf, i) => {
    const dev = readPciDevice(root, bdf)
    if (!dev) throw noSuchDevice(bdf)
    const sysfs = `/sys/bus/pci/devices/${bdf}`
    if (dev.group === null) {
      throw new IommuctlError(
        'NO_IOMMU',
        `${bdf} is in no IOMMU group: no IOMMU translates its DMA, so VFIO and iommufd cannot take it.`,
        {
          exit: ExitCode.unavailable,
          path: `${sysfs}/iommu_group`,
          suggestion:
            'See `iommuctl status`: the IOMMU must be present and on (intel_iommu=on, amd_iommu=on, or a vIOMMU in a guest).',
        },
      )
    }
    if (!dev.driver || !/vfio/.test(dev.driver)) {
      throw new IommuctlError(
        'NOT_ON_VFIO',
        `${bdf} is ${dev.driver ? `bound to ${dev.driver}` : 'bound to no driver'}, not to vfio-pci or a VFIO variant driver: only a device on a VFIO driver has a VFIO cdev to hand over, and every device of its IOMMU group ${dev.group} must leave its DMA driver too.`,
        {
          path: `${sysfs}/driver`,
          suggestion: `sudo iommuctl devices bind ${bdf} --group`,
        },
      )
    }
    const group = readGroup(root, dev.group)
    if (group && !group.viable) {
      const who = group.blockers.map((b) => `${b.bdf} (on ${b.driver})`).join(', ')
      throw new IommuctlError(
        'GROUP_NOT_VIABLE',
        `IOMMU group ${dev.group} of ${bdf} is not viable: ${who} ${group.blockers.length > 1 ? 'use' : 'uses'} DMA through a driver of the host, and the kernel gives a group to VFIO only whole.`,
        {
          path: `/sys/kernel/iommu_groups/${dev.group}/devices`,
          suggestion: `sudo iommuctl devices bind ${bdf} --group`,
        },
      )
    }
    if (!dev.vfioCdev) {
      throw new IommuctlError(
        'NO_VFIO_CDEV',
        `${bdf} has no VFIO device node (no vfio-dev/ in sysfs): the kernel lacks CONFIG_VFIO_DEVICE_CDEV, and a VMM can take an iommufd only with a device cdev.`,
        {
          exit: ExitCode.unavailable,
          path: `${sysfs}/vfio-dev`,
          suggestion:
            'Use a kernel built with CONFIG_VFIO_DEVICE_CDEV=y (6.6 or later), or give the VMM the legacy group (/dev/vfio/GROUP) itself.',
        },
      )
    }
    if (live) {
      const held = scanHolders([dev.vfioCdev, `/dev/vfio/${dev.group}`], [dev.sysfsPath]).holders
      if (held.length) {
        const who = describeHolders(held)
        throw new IommuctlError(
          'DEVICE_BUSY',
          `${bdf} is open in another process: ${who}. The kernel lets one user bind a device at a time.`,
          {
            path: held[0]!.path,
            suggestion: `Stop that process first (kill ${held[0]!.pid}), then try again.`,
          },
        )
      }
    }
    return {bdf, driver: dev.driver, group: dev.group, cdev: dev.vfioCdev, fd: firstFd + i}
  })
}
