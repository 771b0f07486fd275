// Opening what a VMM is handed, the way libvirt's privileged half does (src/util/viriommufd.c):
// /dev/iommu with IOMMU_OPTION_RLIMIT_MODE set to 1, and each device cdev, all O_RDWR and
// bound to nothing. The VMM binds, allocates its IOAS and HWPTs and attaches itself (QEMU's
// hw/vfio/iommufd.c always does), and the kernel refuses a second bind, so nothing is made here.
import {IommuctlError} from '../errors.js'
import {explain, explainErrno} from '../iommufd/explain.js'
import {Iommufd} from '../iommufd/iommufd.js'
import {SyscallError} from '../native/errors.js'
import {Mapping} from '../native/mapping.js'
import * as U from '../native/uapi/iommufd.js'
import {VfioCdev} from '../vfio/cdev.js'
import {HandoffDevice} from './devices.js'

/** What the kernel said to IOMMU_OPTION_RLIMIT_MODE. */
export interface RlimitMode {
  /** ok: set (value read back); failed: refused (errno), pins are then charged per user; skipped: --no-rlimit-mode. */
  result: 'ok' | 'failed' | 'skipped'
  /** The mode read back: 0 per user (the kernel's default), 1 per process. */
  value: number | null
  errno?: string
  detail: string
}

/** One step of the --check proof that went through (a failed one is the command's error). */
export interface CheckStep {
  step: string
  /** What came back: a descriptor, an id, an IOVA. */
  detail: string
}

/** The open descriptors of a hand-off; close() closes each once. */
export class OpenHandoff {
  private constructor(
    readonly iommufd: Iommufd,
    readonly cdevs: VfioCdev[],
    readonly rlimitMode: RlimitMode,
  ) {}

  /** Descriptors in hand-off order: the iommufd, then each device. */
  get fds(): number[] {
    return [this.iommufd.fd, ...this.cdevs.map((c) => c.fd)]
  }

  static open(devices: readonly HandoffDevice[], setRlimitMode: boolean): OpenHandoff {
    const iommufd = explainedCall(() => Iommufd.open())
    try {
      const rlimitMode = setRlimitMode ? rlimitModeOn(iommufd) : skipped()
      return new OpenHandoff(iommufd, openCdevs(devices), rlimitMode)
    } catch (error) {
      iommufd.close()
      throw error
    }
  }

  close(): void {
    for (const c of this.cdevs) c.close()
    this.iommufd.close()
  }
}

function skipped(): RlimitMode {
  return {result: 'skipped', value: null, detail: '--no-rlimit-mode: pinned pages are charged to the user'}
}

/**
 * IOMMU_OPTION_RLIMIT_MODE = 1: pinned pages count against the RLIMIT_MEMLOCK of the process
 * that pins (the VMM), not against everything its user pins. It needs CAP_SYS_RESOURCE and a
 * fresh iommufd; a refusal is reported, not fatal (the VMM still works, charged per user).
 */
function rlimitModeOn(iommufd: Iommufd): RlimitMode {
  try {
    iommufd.option(U.IOMMU_OPTION_RLIMIT_MODE, U.IOMMU_OPTION_OP_SET, 0, 1n)
    const value = Number(iommufd.option(U.IOMMU_OPTION_RLIMIT_MODE, U.IOMMU_OPTION_OP_GET))
    return {
      result: 'ok',
      value,
      detail: 'pinned pages are charged to the RLIMIT_MEMLOCK of the process that pins',
    }
  } catch (error) {
    if (!(error instanceof SyscallError)) throw error
    const why =
      error.errnoName === 'EPERM'
        ? 'setting it needs CAP_SYS_RESOURCE'
        : explainErrno('IOMMU_OPTION', error.errnoName)
    return {
      result: 'failed',
      value: null,
      errno: error.errnoName,
      detail: `IOMMU_OPTION_RLIMIT_MODE refused (${error.errnoName}): ${why}; pinned pages are charged to the user instead`,
    }
  }
}

function explainedCall<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw explain(error)
  }
}

const PAGE = 4096n

/**
 * --check: proves, on descriptors of its own, what the VMM will do with the real ones: bind each
 * device, attach it to a fresh IOAS, map a page, unmap, detach, close. All closed before the
 * child starts, so its descriptors are as fresh as without --check. A failure is thrown with
 * the step named and explained (ENOMEM: RLIMIT_MEMLOCK).
 */
export function proveHandoff(devices: readonly HandoffDevice[]): CheckStep[] {
  const steps: CheckStep[] = []
  const step = <T>(what: string, fn: () => T, detail: (v: T) => string): T => {
    try {
      const v = fn()
      steps.push({step: what, detail: detail(v)})
      return v
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error
      const reading =
        error.errnoName === 'ENOMEM'
          ? 'pinning needs locked memory: a VMM whose RLIMIT_MEMLOCK (--memlock) is below its guest RAM gets this ENOMEM when it maps'
          : explainErrno(error.op, error.errnoName)
      throw new IommuctlError(
        'HANDOFF_CHECK_FAILED',
        `The hand-off check failed at "${what}": ${error.op} (${error.errnoName}): ${reading}. Nothing was started.`,
        {
          errno: error.errnoName,
          suggestion:
            error.errnoName === 'ENOMEM'
              ? 'Raise --memlock to the guest RAM plus what the VMM maps besides.'
              : `See \`iommuctl probe ${devices[0]?.bdf ?? 'BDF'}\` for every step on its own.`,
        },
      )
    }
  }
  const iommufd = step(
    'open /dev/iommu',
    () => Iommufd.open(),
    (f) => `fd ${f.fd}`,
  )
  const cdevs: VfioCdev[] = []
  let page: Mapping | undefined
  try {
    const ioas = step(
      'allocate an IOAS',
      () => iommufd.ioasAlloc(),
      (id) => `ioas ${id}`,
    )
    for (const d of devices) {
      const cdev = step(
        `open ${d.cdev}`,
        () => VfioCdev.open(d.cdev),
        (c) => `fd ${c.fd}`,
      )
      cdevs.push(cdev)
      step(
        `bind ${d.bdf}`,
        () => cdev.bind(iommufd),
        (id) => `dev ${id}`,
      )
      step(
        `attach ${d.bdf} to the IOAS`,
        () => cdev.attach(ioas),
        (pt) => `pt ${pt}`,
      )
    }
    page = step(
      'map a page',
      () => Mapping.anonymous(PAGE),
      () => '4 KiB, anonymous',
    )
    const mapped = page
    const iova = step(
      'map it into the IOAS',
      () => iommufd.map(ioas, {userVa: mapped.address, length: PAGE}),
      (v) => `iova 0x${v.toString(16)}`,
    )
    step(
      'unmap it',
      () => iommufd.unmap(ioas, iova, PAGE),
      (n) => `${n} bytes`,
    )
    for (const [i, cdev] of cdevs.entries())
      step(
        `detach ${devices[i]!.bdf}`,
        () => cdev.detach(),
        () => 'ok',
      )
    step(
      'destroy the IOAS',
      () => iommufd.destroy(ioas),
      () => 'ok',
    )
  } finally {
    for (const c of cdevs) c.close()
    page?.unmap()
    iommufd.close()
  }
  steps.push({step: 'close', detail: 'every descriptor of the check closed'})
  return steps
}

/** Opens each device's cdev read-write, binding nothing; on a failure, those opened are closed. */
export function openCdevs(devices: readonly HandoffDevice[]): VfioCdev[] {
  const cdevs: VfioCdev[] = []
  try {
    for (const d of devices) cdevs.push(explainedCall(() => VfioCdev.open(d.cdev)))
    return cdevs
  } catch (error) {
    for (const c of cdevs) c.close()
    throw error
  }
}
