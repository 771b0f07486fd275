import * as fs from 'node:fs'

import {errnoOf, ExitCode, IommuctlError} from '../errors.js'
import {GROUPS_DIR, PCI_DEVICES_DIR} from '../sysfs/inventory.js'
import {MDEV_DEVICES_DIR} from '../sysfs/mdev.js'
import {Root} from '../sysfs/root.js'
import {Step} from '../step.js'
import {loadModule, PCI_DRIVERS_DIR} from './drivers.js'

/** Which driver a device is on, and what its driver_override says (null: none). */
export interface DriverState {
  driver: string | null
  driverOverride: string | null
}

/** The host a transaction changes: sysfs (SysfsHost below), or a fake in tests. */
export interface HostOps {
  driverState(bdf: string): DriverState
  groupType(group: number): string | null
  /** A sysfs attribute (sriov_numvfs, nr_hugepages), trimmed; null when absent. */
  read(path: string): string | null
  /** One write; throws the kernel's error. */
  write(path: string, value: string): void
  /** Returns once a device is in a state; throws an Error saying where it is instead. */
  waitFor(bdf: string, want: DriverState): void
  /** Whether the mdev of this UUID exists (its /sys/bus/mdev/devices entry). */
  mdevPresent(uuid: string): boolean
  loadModule(driver: string): void
}

export function readDriverState(root: Root, bdf: string): DriverState {
  const dir = `${PCI_DEVICES_DIR}/${bdf}`
  const override = root.readText(`${dir}/driver_override`)
  return {
    driver: root.linkName(`${dir}/driver`),
    driverOverride: override === null || override === '' || override === '(null)' ? null : override,
  }
}

export const sameState = (a: DriverState, b: DriverState) =>
  a.driver === b.driver && a.driverOverride === b.driverOverride

/** The writes that move a device from one driver state to another, then the check that it took. */
export function planMove(bdf: string, from: DriverState, want: DriverState): Step[] {
  const steps: Step[] = []
  const add = (action: Step['action'], path: string | null, value: string | null) =>
    steps.push({bdf, action, path, value, status: 'planned'})
  if (from.driverOverride !== want.driverOverride) {
    add('set-override', `${PCI_DEVICES_DIR}/${bdf}/driver_override`, want.driverOverride ?? '')
  }
  if (from.driver !== want.driver) {
    if (from.driver) add('unbind', `${PCI_DRIVERS_DIR}/${from.driver}/unbind`, bdf)
    if (want.driver) {
      // With the override naming the driver, drivers_probe binds exactly it (the driverctl and
      // libvirt way). Without one, an explicit bind names the driver to go back to.
      if (want.driverOverride === want.driver) add('probe', '/sys/bus/pci/drivers_probe', bdf)
      else add('bind', `${PCI_DRIVERS_DIR}/${want.driver}/bind`, bdf)
    }
  }
  if (steps.length) add('verify', null, want.driver ?? '(none)')
  return steps
}

/**
 * The host a Transaction changes: the root's sysfs. Writes are numbered across a run:
 * IOMMUCTL_TEST_KILL_AT_STEP=N makes the process SIGKILL itself just before write N (the VM
 * tests' kill -9 at each step).
 */
export class SysfsHost implements HostOps {
  private writes = 0
  private readonly killAt = Number(process.env.IOMMUCTL_TEST_KILL_AT_STEP ?? 0)

  constructor(private readonly root: Root) {}

  driverState(bdf: string): DriverState {
    return readDriverState(this.root, bdf)
  }

  groupType(group: number): string | null {
    return this.root.readText(`${GROUPS_DIR}/${group}/type`)
  }

  read(path: string): string | null {
    return this.root.readText(path)
  }

  write(path: string, value: string): void {
    this.writes++
    if (this.writes === this.killAt) process.kill(process.pid, 'SIGKILL')
    // The kernel takes "\n" as "clear" for driver_override; a value ends with a newline as echo writes it.
    this.root.write(path, value + '\n')
  }

  loadModule(driver: string): void {
    loadModule(this.root, driver)
  }

  mdevPresent(uuid: string): boolean {
    return this.root.exists(`${MDEV_DEVICES_DIR}/${uuid}`)
  }

  /** Probing can be asynchronous (nvme asks for it): wait up to 5 s for the driver link to settle. */
  waitFor(bdf: string, want: DriverState): void {
    const deadline = Date.now() + 5000
    for (;;) {
      const now = this.driverState(bdf)
      if (sameState(now, want)) return
      if (Date.now() > deadline) {
        throw new Error(
          `${bdf} is on ${now.driver ?? 'no driver'}${now.driverOverride ? ` (driver_override ${now.driverOverride})` : ''}, not on ${want.driver ?? 'no driver'}` +
            (want.driver && now.driver !== want.driver
              ? `: the kernel accepted the request but ${want.driver} did not take the device (its probe failed or it does not handle this device; dmesg says why)`
              : ''),
        )
      }
      Atomics.wait(SLEEPER, 0, 0, 50)
    }
  }
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4))

/** A failed driver write, in plain words. */
export function explainWrite(step: Step, want: DriverState, error: unknown): string {
  const errno = errnoOf(error)
  const base = `writing ${JSON.stringify(step.value)} to ${step.path} failed (${errno ?? (error as Error).message})`
  switch (errno) {
    case 'EACCES':
    case 'EPERM':
      return `${base}: changing drivers needs root`
    case 'ENODEV':
      return step.action === 'bind'
        ? `${base}: ${want.driver} does not match this device (its id table and driver_override both say no) or the device is gone`
        : `${base}: the device is gone or is not on that driver any more`
    case 'ENOENT':
      return `${base}: no such file: the driver or device is gone`
    case 'EINVAL':
    case 'EBUSY':
    case 'ENXIO':
      return `${base}: the driver refused the device (dmesg says why)`
    default:
      return base
  }
}

/**
 * A failed mdev create or remove write, in plain words: create_store and mdev_device_create
 * (EINVAL: not a UUID; EEXIST: an mdev has that UUID; ENODEV: the parent is going away), the
 * parent driver's probe (mtty_init_dev: ENOSPC when its ports are used up), and remove_store
 * with mdev_device_remove (ENODEV, EAGAIN while it is being created or removed).
 */
export function explainMdevWrite(step: Step, error: unknown): string {
  const errno = errnoOf(error)
  const base = `writing ${JSON.stringify(step.value)} to ${step.path} failed (${errno ?? (error as Error).message})`
  switch (errno) {
    case 'EACCES':
    case 'EPERM':
      return `${base}: creating and removing mdevs needs root`
    case 'EEXIST':
      return `${base}: an mdev with this UUID exists already`
    case 'ENOENT':
      return `${base}: no such file: the ${step.action === 'create-mdev' ? 'type or parent' : 'mdev'} is gone`
    case 'ENOSPC':
      return `${base}: the parent has no room for another mdev of this type`
    case 'ENODEV':
      return `${base}: the parent device is being unregistered, or the mdev is gone`
    case 'EAGAIN':
      return `${base}: the mdev is being created or removed by someone else`
    default:
      return base
  }
}

/** The kernel's answer to a group type write, in plain words (iommu_group_store_type). */
export function explainTypeWrite(error: unknown, id: number, type: string): string {
  const errno = errnoOf(error)
  switch (errno) {
    case 'EPERM':
      return `the kernel refused (EPERM): a driver or a VFIO/iommufd user still holds group ${id}`
    case 'EINVAL':
      return `the kernel refused ${type} for group ${id} (EINVAL): a device in it needs another domain type (an RMRR, a platform quirk, or an untrusted port), or the IOMMU cannot do it`
    case 'EACCES':
      return 'the kernel refused (EACCES): changing a group type needs CAP_SYS_ADMIN and CAP_SYS_RAWIO'
    default:
      return `writing ${type} to ${GROUPS_DIR}/${id}/type failed: ${(error as Error).message}`
  }
}

/** The kernel's answer to a write of sriov_numvfs, in plain words (sriov_numvfs_store in drivers/pci/iov.c). */
export function explainNumVfsWrite(error: unknown, bdf: string, value: string): string {
  const errno = errnoOf(error)
  const base = `writing ${value} to ${PCI_DEVICES_DIR}/${bdf}/sriov_numvfs failed (${errno ?? (error as Error).message})`
  switch (errno) {
    case 'ENOENT':
      return `${base}: ${bdf} has no driver, or its driver cannot make VFs (no sriov_configure)`
    case 'EBUSY':
      return `${base}: ${bdf} has VFs already (the count changes only from 0) or they are in use`
    case 'ERANGE':
    case 'EINVAL':
      return `${base}: more VFs than ${bdf} has (sriov_totalvfs)`
    case 'EACCES':
    case 'EPERM':
      return `${base}: making VFs needs root`
    default:
      return `${base}: the PF's driver refused (dmesg says why)`
  }
}

/** The user cannot write sysfs: say so before anything changes. */
export function requireWritable(paths: string[]): void {
  for (const p of paths) {
    try {
      fs.accessSync(p, fs.constants.W_OK)
    } catch (error) {
      const errno = errnoOf(error)
      throw new IommuctlError(
        'PERMISSION',
        `Cannot write ${p} (${errno ?? (error as Error).message}): changing drivers and group types needs root.`,
        {errno, path: p, exit: ExitCode.failure, suggestion: 'Run it with sudo.'},
      )
    }
  }
}
