import {explainErrno} from '../iommufd/explain.js'
import {Iommufd} from '../iommufd/iommufd.js'
import {SyscallError} from '../native/errors.js'
import {Mapping} from '../native/mapping.js'
import * as U from '../native/uapi/iommufd.js'
import {VfioCdev} from '../vfio/cdev.js'
import {VfioLocation} from '../vfio/locate.js'
import {hex} from './hwinfo.js'

export type StepResult = 'ok' | 'unsupported' | 'failed' | 'skipped'

export interface ProbeStep {
  step: string
  /** The ioctl or call the step makes. */
  call: string
  result: StepResult
  /** What came back (an id, an IOVA), or why it did not. */
  detail: string
  errno: string | null
}

export interface ProbeRecord {
  bdf: string
  path: 'iommufd'
  /** No step failed (unsupported features are not failures). */
  ok: boolean
  steps: ProbeStep[]
}

const BUFFER = 2n << 20n
/** Errnos that mean "this IOMMU or device cannot", not "something is wrong". */
const UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENODEV'])

/**
 * The whole iommufd cycle on one device, each step recorded: open, IOAS, bind, attach, map at a
 * kernel-chosen and a fixed IOVA, IOVA ranges, HWPTs (plain, dirty tracking, nest parent),
 * replace, PASID attach, unmap, detach, destroy. Whatever happens, everything is released:
 * the device ends as it started.
 */
export function runProbe(loc: VfioLocation): ProbeRecord {
  const steps: ProbeStep[] = []
  const attempt = <T>(
    step: string,
    call: string,
    fn: () => T,
    describe: (v: T) => string,
    unsupported = UNSUPPORTED,
  ): T | undefined => {
    try {
      const v = fn()
      steps.push({step, call, result: 'ok', detail: describe(v), errno: null})
      return v
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error
      const result = unsupported.has(error.errnoName) ? 'unsupported' : 'failed'
      steps.push({
        step,
        call,
        result,
        detail: explainErrno(error.op, error.errnoName),
        errno: error.errnoName,
      })
      return undefined
    }
  }
  const skip = (step: string, call: string, why: string) =>
    steps.push({step, call, result: 'skipped', detail: why, errno: null})

  // Without /dev/iommu there is nothing to probe: that is the command's error (exit 3), not a step.
  const iommufd = Iommufd.open()
  steps.push({step: 'open /dev/iommu', call: 'open', result: 'ok', detail: `fd ${iommufd.fd}`, errno: null})
  let dev: VfioCdev | undefined
  let buffer: Mapping | undefined
  try {
    const ioas = attempt(
      'allocate an IOAS',
      'IOMMU_IOAS_ALLOC',
      () => iommufd.ioasAlloc(),
      (id) => `ioas ${id}`,
    )
    dev = attempt(
      `open ${loc.cdev}`,
      'open',
      () => VfioCdev.open(loc.cdev!),
      (d) => `fd ${d.fd}`,
    )
    const devId =
      dev &&
      attempt(
        'bind the device',
        'VFIO_DEVICE_BIND_IOMMUFD',
        () => dev!.bind(iommufd),
        (id) => `dev ${id}`,
      )
    if (ioas === undefined || devId === undefined || !dev) {
      skip('the rest', '-', 'needs an IOAS and a bound device')
      return finish(loc, steps)
    }
    const d = dev
    attempt(
      'attach to the IOAS',
      'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      () => d.attach(ioas),
      (pt) => `pt ${pt} (the automatic domain)`,
    )
    buffer = attempt(
      'allocate a 2 MiB buffer',
      'mmap',
      () => Mapping.anonymous(BUFFER),
      (m) => `at ${hex(m.address)}`,
    )
    const auto =
      buffer &&
      attempt(
        'map at an IOVA the kernel picks',
        'IOMMU_IOAS_MAP',
        () => iommufd.map(ioas, {userVa: buffer!.address, length: BUFFER}),
        (iova) => `iova ${hex(iova)}`,
      )
    const ranges = attempt(
      'read the usable IOVA ranges',
      'IOMMU_IOAS_IOVA_RANGES',
      () => iommufd.iovaRanges(ioas),
      (r) => r.map((x) => `${hex(x.start)}-${hex(x.last)}`).join(', '),
    )
    const fixedIova = ranges && pickFixedIova(ranges, BUFFER, auto)
    const fixed =
      buffer && fixedIova !== undefined
        ? attempt(
            'map at a fixed IOVA',
            'IOMMU_IOAS_MAP',
            () => iommufd.map(ioas, {userVa: buffer!.address, length: BUFFER, iova: fixedIova}),
            (iova) => `iova ${hex(iova)}`,
          )
        : (skip('map at a fixed IOVA', 'IOMMU_IOAS_MAP', 'no free IOVA range found'), undefined)
    const hwpt = attempt(
      'allocate an HWPT',
      'IOMMU_HWPT_ALLOC',
      () => iommufd.hwptAlloc(devId, ioas),
      (id) => `hwpt ${id}`,
    )
    const dirty = attempt(
      'allocate an HWPT with dirty tracking',
      'IOMMU_HWPT_ALLOC',
      () => iommufd.hwptAlloc(devId, ioas, U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING),
      (id) => `hwpt ${id}`,
    )
    const parent = attempt(
      'allocate a nest-parent HWPT',
      'IOMMU_HWPT_ALLOC',
      () => iommufd.hwptAlloc(devId, ioas, U.IOMMU_HWPT_ALLOC_NEST_PARENT),
      (id) => `hwpt ${id}`,
    )
    if (hwpt !== undefined) {
      attempt(
        'replace: attach to the HWPT',
        'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
        () => d.attach(hwpt),
        (pt) => `pt ${pt}`,
      )
      const pasid = attempt(
        'attach PASID 1 to the HWPT',
        'VFIO_DEVICE_ATTACH_IOMMUFD_PT (PASID)',
        () => d.attach(hwpt, 1),
        (pt) => `pt ${pt}`,
        new Set([...UNSUPPORTED, 'EINVAL']),
      )
      if (pasid !== undefined)
        attempt(
          'detach PASID 1',
          'VFIO_DEVICE_DETACH_IOMMUFD_PT (PASID)',
          () => d.detach(1),
          () => 'detached',
        )
    }
    if (auto !== undefined)
      attempt(
        'unmap the kernel-picked IOVA',
        'IOMMU_IOAS_UNMAP',
        () => iommufd.unmap(ioas, auto, BUFFER),
        (n) => `${n} bytes`,
      )
    if (fixed !== undefined)
      attempt(
        'unmap the fixed IOVA',
        'IOMMU_IOAS_UNMAP',
        () => iommufd.unmap(ioas, fixed, BUFFER),
        (n) => `${n} bytes`,
      )
    attempt(
      'detach the device',
      'VFIO_DEVICE_DETACH_IOMMUFD_PT',
      () => d.detach(),
      () => 'detached',
    )
    for (const [what, id] of [
      ['dirty-tracking HWPT', dirty],
      ['nest-parent HWPT', parent],
      ['HWPT', hwpt],
      ['IOAS', ioas],
    ] as const) {
      if (id !== undefined)
        attempt(
          `destroy the ${what}`,
          'IOMMU_DESTROY',
          () => iommufd.destroy(id),
          () => `${id} destroyed`,
        )
    }
    return finish(loc, steps)
  } finally {
    dev?.close()
    buffer?.unmap()
    iommufd.close()
  }
}

/** A 2 MiB-aligned IOVA above 4 GiB inside the usable ranges (as VM.md's 0x100000000), clear of `taken`. */
function pickFixedIova(
  ranges: {start: bigint; last: bigint}[],
  length: bigint,
  taken?: bigint,
): bigint | undefined {
  for (const r of ranges) {
    let iova = r.start > 1n << 32n ? r.start : 1n << 32n
    iova = (iova + length - 1n) & ~(length - 1n)
    if (taken !== undefined && iova < taken + length && taken < iova + length) iova += length
    if (iova + length - 1n <= r.last) return iova
  }
  return undefined
}

function finish(loc: VfioLocation, steps: ProbeStep[]): ProbeRecord {
  return {bdf: loc.bdf, path: 'iommufd', ok: steps.every((s) => s.result !== 'failed'), steps}
}
