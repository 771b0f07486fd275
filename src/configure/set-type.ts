import {errnoOf, ExitCode, IommuctlError} from '../errors.js'
import {allowsVfio} from '../model/groups.js'
import {GROUPS_DIR} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'
import {ChangeOptions, ChangeReport, changeFailed, Changer, DeviceChange, requireLive} from './changes.js'
import {JournalDomainType} from './journal.js'
import {readDriverState, requireWritable, StepError} from './mover.js'

/** What /sys/kernel/iommu_groups/N/type accepts (iommu_group_store_type in drivers/iommu/iommu.c). */
export type DomainType = JournalDomainType
export const DOMAIN_TYPES: readonly DomainType[] = ['DMA', 'DMA-FQ', 'identity', 'auto']
const isDomainType = (t: string): t is DomainType => (DOMAIN_TYPES as readonly string[]).includes(t)

export interface SetTypeOptions extends ChangeOptions {
  rebind: boolean
}

/**
 * `groups set-type`: the kernel changes a group's default domain only while no driver that does
 * DMA through it is bound (group->owner_cnt, else EPERM), except DMA to DMA-FQ, which it does
 * in place. With --rebind those drivers are unbound, journalled, and bound back afterwards.
 */
export function setType(root: Root, id: number, type: DomainType, opts: SetTypeOptions): ChangeReport {
  requireLive(root, opts.dryRun)
  const file = `${GROUPS_DIR}/${id}/type`
  const current = root.readText(file)
  if (current === null) {
    throw new IommuctlError('NO_SUCH_GROUP', `No IOMMU group ${id}.`, {
      path: `${GROUPS_DIR}/${id}`,
      suggestion: 'List the groups with `iommuctl groups`.',
    })
  }
  if (!isDomainType(current)) {
    // blocked, unmanaged: a VFIO or iommufd user owns the group; nothing to write back to.
    throw new IommuctlError(
      'GROUP_IN_USE',
      `Group ${id} has a ${current} domain, which iommuctl could not put back: it changes only groups with a ${DOMAIN_TYPES.slice(0, 3).join(', ')} default domain.`,
      {path: root.abs(file), suggestion: 'Close what holds the group (a VMM, a userspace driver) first.'},
    )
  }
  const ch = new Changer(root, 'set-type', opts)
  const members = ch.groupMembers(id)
  if (current === type) {
    return ch.report([], {summary: `Nothing to do: group ${id} already has a ${type} default domain.`})
  }
  const inPlace = type === 'DMA-FQ' && current === 'DMA'
  const busy = inPlace
    ? []
    : members.filter((bdf) => {
        const d = readDriverState(root, bdf).driver
        return d !== null && !allowsVfio(d)
      })
  if (busy.length && !opts.rebind) {
    throw new IommuctlError(
      'GROUP_IN_USE',
      `Group ${id} cannot change its default domain while drivers use it: ${busy.map((b) => `${b} on ${readDriverState(root, b).driver}`).join(', ')}.`,
      {
        path: root.abs(file),
        suggestion: `Add --rebind to unbind ${busy.length > 1 ? 'them' : 'it'}, change the type and bind ${busy.length > 1 ? 'them' : 'it'} back; or unbind first with \`iommuctl devices unbind ${busy.join(' ')}\`.`,
      },
    )
  }
  const unbinds: DeviceChange[] = busy.map((bdf) => {
    const from = readDriverState(root, bdf)
    return {
      bdf,
      group: id,
      reason: 'group',
      from,
      to: {driver: null, driverOverride: from.driverOverride},
      changes: true,
      note: `unbound while the type changes, then bound back to ${from.driver}`,
    }
  })
  const forced = ch.checkInterlocks(unbinds, new Set<string>())
  const steps = [
    ...unbinds.flatMap((c) => ch.mover.plan(c.bdf, c.to, c.from)),
    {bdf: null, action: 'set-type' as const, path: file, value: type, status: 'planned' as const},
    {bdf: null, action: 'verify' as const, path: null, value: type, status: 'planned' as const},
    ...unbinds.flatMap((c) => ch.mover.plan(c.bdf, c.from, c.to)),
  ]
  const plan = ch.report(unbinds, {
    forced,
    steps,
    summary: `${opts.dryRun ? 'Would change' : 'Changing'} group ${id} from ${current} to ${type}${unbinds.length ? `, unbinding and rebinding ${unbinds.map((c) => c.bdf).join(', ')}` : ''}.`,
  })
  if (!opts.dryRun) requireWritable([root.abs(file)])
  ch.open()
  try {
    ch.requireNoInterrupted()
    ch.requireWritableFor(unbinds)
    opts.onPlan?.(plan)
    if (opts.dryRun) return plan
    // Journal first: the type to put back and the drivers to give back if this run dies.
    ch.journal.data.groups[id] = {
      type: current,
      by: 'set-type',
      at: new Date().toISOString(),
      pendingPid: process.pid,
    }
    const added = ch.journalBefore(unbinds)
    const done: DeviceChange[] = []
    let wrote = false
    try {
      for (const c of unbinds) {
        done.push(c)
        ch.mover.apply(c.bdf, c.to)
      }
      wrote = true
      ch.mover.writeStep({bdf: null, action: 'set-type', path: file, value: type}, (e) =>
        refusal(e, id, type),
      )
      ch.mover.checkStep({bdf: null, action: 'verify', value: type}, () => {
        const now = root.readText(file)
        if (type === 'auto' ? now === null : now !== type) {
          throw new Error(`the kernel accepted ${type} but group ${id} reads ${now}`)
        }
      })
      for (const c of unbinds) ch.mover.apply(c.bdf, c.from)
    } catch (error) {
      if (!(error instanceof StepError)) throw error
      const failedStep = error.step
      // Back as it was: the old type (while the devices are still off), then the drivers.
      if (wrote && root.readText(file) !== current) {
        try {
          ch.mover.writeStep({bdf: null, action: 'set-type', path: file, value: current}, (e) =>
            refusal(e, id, current),
          )
        } catch {
          // Stays journalled: restore tries again.
        }
      }
      const {restored, failed} = ch.rollback(done)
      if (root.readText(file) === current) ch.journal.forgetGroup(id)
      for (const c of unbinds) {
        if (added.has(c.bdf) && !failed.includes(c.bdf)) ch.journal.forget(c.bdf)
      }
      ch.journal.save()
      throw changeFailed('set-type', failedStep, restored, failed, ch.mover.steps)
    }
    ch.journal.forgetGroup(id)
    for (const c of unbinds) if (added.has(c.bdf)) ch.journal.forget(c.bdf)
    ch.journal.save()
    return ch.report(unbinds, {
      forced,
      changed: true,
      steps: ch.mover.steps,
      summary: `Group ${id}: ${current} → ${root.readText(file)}.`,
    })
  } finally {
    ch.close()
  }
}

/** The kernel's answer to a type write, in plain words (iommu_group_store_type). */
function refusal(error: unknown, id: number, type: string): string {
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

export function parseDomainType(text: string): DomainType {
  const t = DOMAIN_TYPES.find((x) => x.toLowerCase() === text.toLowerCase())
  if (!t) {
    throw new IommuctlError('BAD_TYPE', `${JSON.stringify(text)} is not a default domain type.`, {
      exit: ExitCode.usage,
      suggestion: `Give one of ${DOMAIN_TYPES.join(', ')}.`,
    })
  }
  return t
}
