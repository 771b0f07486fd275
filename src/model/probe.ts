import {explainErrno} from '../iommufd/explain.js'
import {SyscallError} from '../native/errors.js'
import {Mapping} from '../native/mapping.js'
import {closeQuietly} from '../native/ioctl.js'
import * as U from '../native/uapi/iommufd.js'
import * as V from '../native/uapi/vfio.js'
import type {Kernel, KernelDevice, UserMemory} from '../session/kernel.js'
import {deviceInfo} from '../vfio/cdev.js'
import {VfioContainer, VfioGroup} from '../vfio/legacy.js'
import {VfioLocation} from '../vfio/locate.js'
import {hex} from '../records.js'
import {nestingOffer} from './hwinfo.js'

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
  /** iommufd (the device cdev) or legacy (container and group, type1v2). */
  path: 'iommufd' | 'legacy'
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
 * replace, PASID attach; then what was made is taken down in reverse: PASID detach, detach,
 * destroy, unmap. A step that fails skips only what needs it, and whatever happens every
 * descriptor and mapping is released: the device ends as it started. The kernel is an interface
 * (src/session/kernel.ts) so that unit tests drive the same steps over a fake.
 */
export function runProbe(kernel: Kernel, bdf: string, opts: {nested?: boolean} = {}): ProbeRecord {
  // Why the device cannot be probed (not on VFIO, no cdev) is the command's error, as is
  // a missing /dev/iommu (exit 3): neither is a step.
  const node = kernel.deviceNode(bdf)
  const iommufd = kernel.openIommufd()
  const log = new StepLog()
  log.opened('/dev/iommu', iommufd.fd)
  let dev: KernelDevice | undefined
  let buffer: UserMemory | undefined
  try {
    const build = (): void => {
      const ioas = log.attempt(
        'allocate an IOAS',
        'IOMMU_IOAS_ALLOC',
        () => iommufd.ioasAlloc(),
        (id) => `ioas ${id}`,
      )
      if (ioas !== undefined) log.undo('ioas', destroy('IOAS', ioas))
      dev = log.attempt(
        `open ${node}`,
        'open',
        () => kernel.openDevice(node),
        (d) => `fd ${d.fd}`,
      )
      const d = dev
      const devId =
        d &&
        log.attempt(
          'bind the device',
          'VFIO_DEVICE_BIND_IOMMUFD',
          () => d.bind(iommufd),
          (id) => `dev ${id}`,
        )
      if (ioas === undefined || devId === undefined || !d) {
        log.skip('the rest', '-', 'needs an IOAS and a bound device')
        return
      }
      const detachDevice: Undo = {
        step: 'detach the device',
        call: 'VFIO_DEVICE_DETACH_IOMMUFD_PT',
        run: () => d.detach(),
        describe: () => 'detached',
      }
      const attached = log.attempt(
        'attach to the IOAS',
        'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
        () => d.attach(ioas),
        (pt) => `pt ${pt} (the automatic domain)`,
      )
      if (attached !== undefined) log.undo('device', detachDevice)
      buffer = log.attempt(
        'allocate a 2 MiB buffer',
        'mmap',
        () => kernel.anonymous(BUFFER),
        (m) => `at ${hex(m.address)}`,
      )
      const b = buffer
      const auto =
        b &&
        log.attempt(
          'map at an IOVA the kernel picks',
          'IOMMU_IOAS_MAP',
          () => iommufd.map(ioas, {userVa: b.address, length: BUFFER}),
          (iova) => `iova ${hex(iova)}`,
        )
      if (auto !== undefined) log.undo('auto', unmap('the kernel-picked IOVA', ioas, auto))
      const ranges = log.attempt(
        'read the usable IOVA ranges',
        'IOMMU_IOAS_IOVA_RANGES',
        () => iommufd.iovaRanges(ioas),
        (r) => r.map((x) => `${hex(x.start)}-${hex(x.last)}`).join(', '),
      )
      const fixedIova = ranges && pickFixedIova(ranges, BUFFER, auto)
      if (b && fixedIova !== undefined) {
        const fixed = log.attempt(
          'map at a fixed IOVA',
          'IOMMU_IOAS_MAP',
          () => iommufd.map(ioas, {userVa: b.address, length: BUFFER, iova: fixedIova}),
          (iova) => `iova ${hex(iova)}`,
        )
        if (fixed !== undefined) log.undo('fixed', unmap('the fixed IOVA', ioas, fixed))
      } else log.skip('map at a fixed IOVA', 'IOMMU_IOAS_MAP', 'no free IOVA range found')
      const hwpts = [
        ['allocate an HWPT', 'HWPT', 0],
        ['allocate an HWPT with dirty tracking', 'dirty-tracking HWPT', U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING],
        ['allocate a nest-parent HWPT', 'nest-parent HWPT', U.IOMMU_HWPT_ALLOC_NEST_PARENT],
      ] as const
      const [hwpt, , nestParent] = hwpts.map(([step, what, flags]) => {
        const id = log.attempt(
          step,
          'IOMMU_HWPT_ALLOC',
          () => iommufd.hwptAlloc(devId, ioas, flags),
          (h) => `hwpt ${h}`,
        )
        if (id !== undefined) log.undo(what, destroy(what, id))
        return id
      })
      if (opts.nested) probeNesting(devId, nestParent)
      if (hwpt === undefined) return
      const replaced = log.attempt(
        'replace: attach to the HWPT',
        'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
        () => d.attach(hwpt),
        (pt) => `pt ${pt}`,
      )
      // Attached to the HWPT now, the device must be detached before the HWPT can go.
      if (replaced !== undefined) log.undo('device', detachDevice)
      const pasid = log.attempt(
        'attach PASID 1 to the HWPT',
        'VFIO_DEVICE_ATTACH_IOMMUFD_PT (PASID)',
        () => d.attach(hwpt, 1),
        (pt) => `pt ${pt}`,
        new Set([...UNSUPPORTED, 'EINVAL']),
      )
      if (pasid !== undefined)
        log.undo('pasid', {
          step: 'detach PASID 1',
          call: 'VFIO_DEVICE_DETACH_IOMMUFD_PT (PASID)',
          run: () => d.detach(1),
          describe: () => 'detached',
        })
    }
    build()
    log.tearDown()
    return finish(bdf, log.steps)
  } finally {
    dev?.close()
    buffer?.unmap()
    iommufd.close()
  }

  /**
   * --nested: what the IOMMU offers for nesting (IOMMU_GET_HW_INFO), then a vIOMMU and a nested
   * HWPT on the nest parent, each with the data its type takes; where the nest parent was refused
   * the registers say why, when they can.
   */
  function probeNesting(devId: number, nestParent: number | undefined): void {
    const offer = log.attempt(
      "read the IOMMU's hardware info",
      'IOMMU_GET_HW_INFO',
      () => nestingOffer(iommufd.hwInfo(devId)),
      (o) => {
        const takes = o.nestedData ? `nested data ${o.nestedData.name}` : 'no nested data type iommuctl knows'
        return `${o.type}: ${takes}, ${o.viommu ? `vIOMMU ${o.viommu.name}` : 'no vIOMMU type'}`
      },
    )
    const noParent = `needs a nest-parent HWPT${offer?.cannot ? `: ${offer.cannot}` : ''}`
    let viommu: number | undefined
    if (!offer?.viommu)
      log.skip(
        'allocate a vIOMMU',
        'IOMMU_VIOMMU_ALLOC',
        offer
          ? `the 7.2 uAPI has no vIOMMU type for ${offer.type} (IOMMU_VIOMMU_TYPE_ARM_SMMUV3, _TEGRA241_CMDQV)`
          : 'needs the hardware info',
      )
    else if (nestParent === undefined) log.skip('allocate a vIOMMU', 'IOMMU_VIOMMU_ALLOC', noParent)
    else {
      const type = offer.viommu.type
      viommu = log.attempt(
        `allocate a vIOMMU (${offer.viommu.name})`,
        'IOMMU_VIOMMU_ALLOC',
        () => iommufd.viommuAlloc(devId, nestParent, type).id,
        (id) => `viommu ${id} on hwpt ${nestParent}`,
      )
      if (viommu !== undefined) log.undo('viommu', destroy('vIOMMU', viommu))
    }
    const data = offer?.nestedData
    const on = data?.onViommu ? viommu : nestParent
    if (!data)
      log.skip(
        'allocate a nested HWPT',
        'IOMMU_HWPT_ALLOC',
        offer ? `iommuctl knows no nested data for ${offer.type}` : 'needs the hardware info',
      )
    else if (on === undefined)
      log.skip(
        `allocate a nested HWPT (${data.name})`,
        'IOMMU_HWPT_ALLOC',
        data.onViommu && nestParent !== undefined ? 'needs a vIOMMU' : noParent,
      )
    else {
      const nested = log.attempt(
        `allocate a nested HWPT (${data.name})`,
        'IOMMU_HWPT_ALLOC',
        () => iommufd.hwptAlloc(devId, on, 0, {type: data.type, bytes: data.bytes}),
        (h) => `hwpt ${h} on ${data.onViommu ? 'viommu' : 'hwpt'} ${on}`,
      )
      if (nested !== undefined) log.undo('nested HWPT', destroy('nested HWPT', nested))
    }
  }

  function destroy(what: string, id: number): Undo {
    return {
      step: `destroy the ${what}`,
      call: 'IOMMU_DESTROY',
      run: () => iommufd.destroy(id),
      describe: () => `${id} destroyed`,
    }
  }

  function unmap(what: string, ioas: number, iova: bigint): Undo {
    return {
      step: `unmap ${what}`,
      call: 'IOMMU_IOAS_UNMAP',
      run: () => iommufd.unmap(ioas, iova, BUFFER),
      describe: (n) => `${n} bytes`,
    }
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

function finish(bdf: string, steps: ProbeStep[], path: ProbeRecord['path'] = 'iommufd'): ProbeRecord {
  return {bdf, path, ok: steps.every((s) => s.result !== 'failed'), steps}
}

/** A step that takes down what an earlier one made. */
interface Undo {
  step: string
  call: string
  run: () => unknown
  describe: (v: unknown) => string
}

/** The steps of a probe as they happen: each call's result, or the errno and what it means. */
class StepLog {
  readonly steps: ProbeStep[] = []
  /** What to take down, in the order it was made; by key, so a later dependency moves it on top. */
  private readonly undos = new Map<string, Undo>()

  /** The descriptor the probe needs before any step: opened, or the command's error. */
  opened(node: string, fd: number): void {
    this.steps.push({step: `open ${node}`, call: 'open', result: 'ok', detail: `fd ${fd}`, errno: null})
  }

  undo(key: string, undo: Undo): void {
    this.undos.delete(key)
    this.undos.set(key, undo)
  }

  /** Takes down what was made, last first; a failed step does not stop the ones after it. */
  tearDown(): void {
    for (const u of [...this.undos.values()].reverse()) this.attempt(u.step, u.call, u.run, u.describe)
    this.undos.clear()
  }

  attempt<T>(
    step: string,
    call: string,
    fn: () => T,
    describe: (v: T) => string,
    unsupported = UNSUPPORTED,
  ): T | undefined {
    try {
      const v = fn()
      this.steps.push({step, call, result: 'ok', detail: describe(v), errno: null})
      return v
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error
      const result = unsupported.has(error.errnoName) ? 'unsupported' : 'failed'
      this.steps.push({
        step,
        call,
        result,
        detail: explainErrno(error.op, error.errnoName),
        errno: error.errnoName,
      })
      return undefined
    }
  }

  skip(step: string, call: string, why: string): void {
    this.steps.push({step, call, result: 'skipped', detail: why, errno: null})
  }
}

/**
 * The same question through the legacy path: container (/dev/vfio/vfio, type1v2) and group
 * (/dev/vfio/GROUP): API version, extension, group viability, set container and IOMMU, the
 * type1 info with its IOVA ranges, a DMA map and unmap, and the device fd from the group.
 */
export function runLegacyProbe(loc: VfioLocation): ProbeRecord {
  const log = new StepLog()
  // Without the container node there is no legacy VFIO: the command's error, not a step.
  const container = VfioContainer.open()
  log.opened('/dev/vfio/vfio', container.fd)
  let group: VfioGroup | undefined
  let buffer: Mapping | undefined
  let deviceFd: number | undefined
  try {
    log.attempt(
      'read the API version',
      'VFIO_GET_API_VERSION',
      () => container.apiVersion(),
      (v) => `version ${v}`,
    )
    const type1v2 = log.attempt(
      'check for the type1v2 IOMMU',
      'VFIO_CHECK_EXTENSION',
      () => container.checkExtension(V.VFIO_TYPE1v2_IOMMU),
      (v) => (v ? 'supported' : 'not supported'),
    )
    group = log.attempt(
      `open ${loc.groupNode}`,
      'open',
      () => VfioGroup.open(loc.groupNode!),
      (g) => `fd ${g.fd}`,
    )
    const g = group
    const status =
      g &&
      log.attempt(
        'read the group status',
        'VFIO_GROUP_GET_STATUS',
        () => g.status(),
        (st) => (st.viable ? 'viable' : 'not viable: a device of the group is on a host driver'),
      )
    if (status && !status.viable) log.steps[log.steps.length - 1]!.result = 'failed'
    if (!g || !status?.viable || !type1v2) {
      log.skip('the rest', '-', 'needs a viable group and the type1v2 IOMMU')
      return finish(loc.bdf, log.steps, 'legacy')
    }
    const set = log.attempt(
      'put the group in the container',
      'VFIO_GROUP_SET_CONTAINER',
      () => (g.setContainer(container), true),
      () => 'set',
    )
    const iommu =
      set !== undefined &&
      log.attempt(
        'select the type1v2 IOMMU',
        'VFIO_SET_IOMMU',
        () => (container.setIommu(V.VFIO_TYPE1v2_IOMMU), true),
        () => 'type1v2',
      )
    if (iommu === undefined || iommu === false) {
      log.skip('the rest', '-', 'needs the container set up')
      return finish(loc.bdf, log.steps, 'legacy')
    }
    const info = log.attempt(
      'read the IOMMU info',
      'VFIO_IOMMU_GET_INFO',
      () => container.info(),
      (i) =>
        `page sizes ${hex(i.pgsizes)}, IOVA ${i.iovaRanges.map((r) => `${hex(r.start)}-${hex(r.end)}`).join(', ')}${i.dmaAvailable === null ? '' : `, ${i.dmaAvailable} mappings available`}`,
    )
    buffer = log.attempt(
      'allocate a 2 MiB buffer',
      'mmap',
      () => Mapping.anonymous(BUFFER),
      (m) => `at ${hex(m.address)}`,
    )
    const iova =
      info &&
      pickFixedIova(
        info.iovaRanges.map((r) => ({start: r.start, last: r.end})),
        BUFFER,
      )
    const mapped =
      buffer && iova !== undefined
        ? log.attempt(
            'map it for DMA',
            'VFIO_IOMMU_MAP_DMA',
            () => (container.mapDma(buffer!.address, iova, BUFFER), true),
            () => `iova ${hex(iova)}`,
          )
        : undefined
    deviceFd = log.attempt(
      `get the device fd of ${loc.bdf}`,
      'VFIO_GROUP_GET_DEVICE_FD',
      () => g.deviceFd(loc.bdf),
      (fd) => `fd ${fd}`,
    )
    if (deviceFd !== undefined) {
      const fd = deviceFd
      log.attempt(
        'read the device info',
        'VFIO_DEVICE_GET_INFO',
        () => deviceInfo(fd),
        (i) => `${i.numRegions} regions, ${i.numIrqs} IRQ types`,
      )
    }
    if (mapped !== undefined && iova !== undefined)
      log.attempt(
        'unmap it',
        'VFIO_IOMMU_UNMAP_DMA',
        () => container.unmapDma(iova, BUFFER),
        (n) => `${n} bytes`,
      )
    return finish(loc.bdf, log.steps, 'legacy')
  } finally {
    if (deviceFd !== undefined) closeQuietly(deviceFd)
    group?.close()
    container.close()
    buffer?.unmap()
  }
}
