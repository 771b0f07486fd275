import * as fs from 'node:fs'

import {errnoOf, ExitCode, IommuctlError} from '../errors.js'
import {PCI_DEVICES_DIR} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'
import {Step} from '../step.js'
import {PCI_DRIVERS_DIR} from './drivers.js'

/** Which driver a device is on, and what its driver_override says (null: none). */
export interface DriverState {
  driver: string | null
  driverOverride: string | null
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

/**
 * Moves devices between drivers through sysfs and checks each move took, logging every step.
 * All writes of a run go through one Mover, which numbers them: IOMMUCTL_TEST_KILL_AT_STEP=N
 * makes the process SIGKILL itself just before write N (the VM tests' kill -9 at each step).
 */
export class Mover {
  readonly steps: Step[] = []
  private writes = 0
  private readonly killAt = Number(process.env.IOMMUCTL_TEST_KILL_AT_STEP ?? 0)

  constructor(
    private readonly root: Root,
    private readonly onStep: (step: Step) => void = () => {},
  ) {}

  /** The steps that would put a device into a state, without taking them. */
  plan(bdf: string, want: DriverState, from = readDriverState(this.root, bdf)): Step[] {
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

  /** Puts a device into a state; throws a StepError (with the steps so far) when a step fails. */
  apply(bdf: string, want: DriverState): void {
    for (const step of this.plan(bdf, want)) {
      this.steps.push(step)
      try {
        if (step.action === 'verify') this.verify(bdf, want)
        else this.write(step.path!, step.value!)
        step.status = 'done'
      } catch (error) {
        this.fail(
          step,
          error,
          step.action === 'verify' ? (error as Error).message : explainWrite(step, want, error),
        )
      }
      this.onStep(step)
    }
  }

  /** A sysfs write that is not a driver move (a group's type), logged like one. */
  writeStep(step: Omit<Step, 'status'>, explain: (error: unknown) => string): void {
    const s: Step = {...step, status: 'planned'}
    this.steps.push(s)
    try {
      this.write(s.path!, s.value!)
      s.status = 'done'
    } catch (error) {
      this.fail(s, error, explain(error))
    }
    this.onStep(s)
  }

  /** A step that is a check, logged like the writes; the check throws a plain Error saying what is wrong. */
  checkStep(step: Omit<Step, 'status' | 'path'>, check: () => void): void {
    const s: Step = {...step, path: null, status: 'planned'}
    this.steps.push(s)
    try {
      check()
      s.status = 'done'
    } catch (error) {
      this.fail(s, error, (error as Error).message)
    }
    this.onStep(s)
  }

  /** Marks the steps taken for a device since `from` as undone (after a rollback put it back). */
  markUndone(fromIndex: number): void {
    for (const s of this.steps.slice(0, fromIndex)) if (s.status === 'done') s.status = 'undone'
  }

  private fail(step: Step, error: unknown, message: string): never {
    step.status = 'failed'
    step.error = message
    const errno = errnoOf(error)
    if (errno) step.errno = errno
    this.onStep(step)
    throw new StepError(step)
  }

  private write(path: string, value: string): void {
    this.writes++
    if (this.writes === this.killAt) process.kill(process.pid, 'SIGKILL')
    // The kernel takes "\n" as "clear" for driver_override; a value ends with a newline as echo writes it.
    this.root.write(path, value + '\n')
  }

  /** Probing can be asynchronous (nvme asks for it): wait up to 5 s for the driver link to settle. */
  private verify(bdf: string, want: DriverState): void {
    const deadline = Date.now() + 5000
    for (;;) {
      const now = readDriverState(this.root, bdf)
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

/** A failed step; the caller rolls back and reports. */
export class StepError extends Error {
  constructor(readonly step: Step) {
    super(step.error)
  }
}

function explainWrite(step: Step, want: DriverState, error: unknown): string {
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
