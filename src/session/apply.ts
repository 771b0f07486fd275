import {ExitCode, IommuctlError} from '../errors.js'
import type {HandoffDevice} from '../handoff/devices.js'
import {schemaProblem, schemaValidators} from '../schema.js'
import {Engine, EngineState, explained} from './engine.js'
import {Kernel} from './kernel.js'
import {DEFAULT_VEVENTQ_DEPTH, hexBytes} from './nesting.js'
import {checkPlan, Plan, planError, planSize} from './plan.js'

/** One entry of the plan as it went. */
export interface ApplyStep {
  /** The entry, as the plan names it: ioas[0], maps[1], attach[0]. */
  entry: string
  what: string
  /** The kernel's answer: an object id, an IOVA. */
  result: string
}

/** What `iommuctl apply` prints. */
export interface ApplyRecord {
  steps: ApplyStep[]
  state: EngineState
  /** exit: torn down when apply returns; hold: until SIGINT or SIGTERM; exec: until the command exits. */
  mode: 'exit' | 'hold' | 'exec'
  /** The plan's handoff devices: opened, not bound, for the --exec child. */
  handoff?: HandoffDevice[]
}

/** Validates a parsed plan against schemas/plan.json; an error names the entry and field. */
export async function validatePlan(data: unknown): Promise<Plan> {
  const e = schemaValidators('plan').whole(data)
  if (e) {
    const {where, message} = schemaProblem(e, '')
    throw planError(where || 'the plan', message)
  }
  const plan = data as Plan
  checkPlan(plan)
  const bound = new Set(planDevices(plan))
  plan.handoff?.forEach((bdf, i) => {
    if (bound.has(bdf))
      throw planError(
        `handoff[${i}]`,
        `${bdf} is bound by the plan: a device is either bound here or handed over unbound`,
      )
  })
  return plan
}

/** Every device the plan names, in order of first mention. */
export function planDevices(plan: Plan): string[] {
  return [
    ...new Set(
      [plan.hwpts, plan.viommus, plan.vdevices, plan.attach].flatMap((section) =>
        (section ?? []).map((e) => e.device),
      ),
    ),
  ]
}

/**
 * Builds the plan in a new engine: devices, IOASes, maps, fault queues, HWPTs, vIOMMUs, vDEVICEs,
 * vEVENTQs, the HWPTs on vIOMMUs, attachments. If an entry fails, everything made so far is torn down and the error
 * names the entry and why.
 */
export function applyPlan(
  kernel: Kernel,
  plan: Plan,
  maxPinned: bigint | null,
): {engine: Engine; steps: ApplyStep[]} {
  // Every device must be on a VFIO driver with a cdev before /dev/iommu is opened.
  for (const bdf of planDevices(plan)) kernel.deviceNode(bdf)
  const engine = explained(() => new Engine(kernel, maxPinned))
  const steps: ApplyStep[] = []
  const step = (entry: string, what: string, fn: () => string) => {
    try {
      steps.push({entry, what, result: explained(fn)})
    } catch (error) {
      engine.close()
      const e = error as IommuctlError
      throw new IommuctlError(
        'APPLY_FAILED',
        `${entry} (${what}) failed: ${e.message} Everything made before it was torn down.`,
        {
          errno: e.errno,
          exit: e.oclif?.exit === ExitCode.unavailable ? ExitCode.unavailable : ExitCode.failure,
          suggestion: e.suggestions?.[0],
        },
      )
    }
  }
  planDevices(plan).forEach((bdf, i) =>
    step(`devices[${i}]`, `bind ${bdf}`, () => `dev ${engine.device(bdf).devId}`),
  )
  plan.ioas.forEach((x, i) =>
    step(`ioas[${i}]`, `IOAS ${x.name}`, () => {
      const ranges = x.allowIovas?.map((r) => ({start: BigInt(r.start), last: BigInt(r.last)}))
      return `ioas ${engine.createIoas(x.name, ranges, {hugePages: x.hugePages})}`
    }),
  )
  plan.maps?.forEach((m, i) =>
    step(`maps[${i}]`, `map ${m.name} (${m.size}) into ${m.ioas}`, () => {
      const r = engine.map(m.ioas, {...m, size: planSize(`maps[${i}].size`, m.size)})
      return `iova ${r.iova}`
    }),
  )
  plan.faultQueues?.forEach((q, i) =>
    step(
      `faultQueues[${i}]`,
      `fault queue ${q.name}`,
      () => `fault-queue ${engine.createFaultQueue(q.name)}`,
    ),
  )
  const viommus = new Set(plan.viommus?.map((v) => v.name))
  const hwpts = (late: boolean) =>
    plan.hwpts?.forEach((h, i) => {
      // checkPlan: a paging HWPT has ioas; a nested one parent, dataType and data.
      const on = h.parent === undefined ? h.ioas! : h.parent
      if (viommus.has(on) !== late) return
      const nested =
        h.parent === undefined ? undefined : {type: h.dataType!, data: hexBytes(`hwpts[${i}].data`, h.data!)}
      const what = [
        h.flags?.join(', '),
        nested && `nested, ${nested.type} data`,
        h.faultQueue && `faults to ${h.faultQueue}`,
      ]
        .filter(Boolean)
        .join('; ')
      step(`hwpts[${i}]`, `HWPT ${h.name} on ${on} for ${h.device}${what ? ` (${what})` : ''}`, () => {
        return `hwpt ${engine.createHwpt(h.name, on, h.device, h.flags, nested, h.faultQueue)}`
      })
    })
  hwpts(false)
  plan.viommus?.forEach((v, i) =>
    step(`viommus[${i}]`, `vIOMMU ${v.name} (${v.type}) on ${v.hwpt} for ${v.device}`, () => {
      return `viommu ${engine.createViommu(v.name, v.hwpt, v.device, v.type)}`
    }),
  )
  plan.vdevices?.forEach((d, i) =>
    step(`vdevices[${i}]`, `vDEVICE ${d.name} of ${d.device} at ${d.virtId} on ${d.viommu}`, () => {
      return `vdevice ${engine.createVdevice(d.name, d.viommu, d.device, BigInt(d.virtId))}`
    }),
  )
  plan.veventqs?.forEach((q, i) =>
    step(`veventqs[${i}]`, `vEVENTQ ${q.name} (${q.type}) on ${q.viommu}`, () => {
      const id = engine.createVeventq(q.name, q.viommu, q.type, q.depth ?? DEFAULT_VEVENTQ_DEPTH)
      return `veventq ${id}`
    }),
  )
  hwpts(true)
  plan.attach?.forEach((a, i) =>
    step(`attach[${i}]`, `attach ${a.device}${a.pasid ? ` PASID ${a.pasid}` : ''} to ${a.to}`, () => {
      return `pt ${engine.attach(a.device, a.to, a.pasid)}`
    }),
  )
  return {engine, steps}
}
