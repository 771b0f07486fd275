import {ExitCode, IommuctlError} from '../errors.js'
import {allowsVfio} from '../model/groups.js'
import {GROUPS_DIR} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'
import {ChangeOptions, ChangeReport, Changer, DeviceChange, requireLive} from './changes.js'
import {Interlock} from './interlocks.js'
import {JournalDomainType} from './journal.js'
import {readDriverState} from './mover.js'
import {Change} from './transaction.js'

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
  const ch = new Changer(root, 'set-type', opts)
  const p = planSetType(ch, id, type, opts.rebind)
  if (p === null) {
    return ch.report([], {summary: `Nothing to do: group ${id} already has a ${type} default domain.`})
  }
  const rebinding = p.unbinds.length
    ? `, unbinding and rebinding ${p.unbinds.map((c) => c.bdf).join(', ')}`
    : ''
  ch.open()
  try {
    return ch.execute({
      devices: p.unbinds,
      changes: p.changes,
      forced: p.forced,
      warnings: p.unbinds.length ? ch.factsWarning() : [],
      none: `Nothing to do: group ${id} already has a ${type} default domain.`,
      plan: `Would change group ${id} from ${p.current} to ${type}${rebinding}.`,
      done: () => `Group ${id}: ${p.current} → ${root.readText(`${GROUPS_DIR}/${id}/type`)}.`,
    })
  } finally {
    ch.close()
  }
}

/** What changing a group's type takes: the drivers unbound for it and bound back (journalled as transient), the write. */
export interface SetTypePlan {
  current: DomainType
  unbinds: DeviceChange[]
  changes: Change[]
  forced: Interlock[]
}

/**
 * Plans a group's type change, refusing what the kernel would (a group a VFIO user holds, drivers
 * on it without rebind); null when it has the type already. `groups set-type` and `host apply`
 * plan with it. Devices in `leaving` are left out of the unbinds: the plan takes them off their
 * drivers before (`host apply` moves them to vfio-pci first).
 */
export function planSetType(
  ch: Changer,
  id: number,
  type: DomainType,
  rebind: boolean,
  leaving: ReadonlySet<string> = new Set(),
): SetTypePlan | null {
  const root = ch.root
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
  const members = ch.groupMembers(id)
  if (current === type) return null
  const inPlace = type === 'DMA-FQ' && current === 'DMA'
  const busy = inPlace
    ? []
    : members.filter((bdf) => {
        if (leaving.has(bdf)) return false
        const d = readDriverState(root, bdf).driver
        return d !== null && !allowsVfio(d)
      })
  if (busy.length && !rebind) {
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
      note: `unbound while group ${id} changes its default domain type, then bound back to ${from.driver}`,
    }
  })
  const forced = ch.checkInterlocks(unbinds)
  const device = (c: DeviceChange, back: boolean): Change => ({
    kind: 'device',
    bdf: c.bdf,
    from: back ? c.to : c.from,
    to: back ? c.from : c.to,
    journal: 'transient',
  })
  return {
    current,
    unbinds,
    changes: [
      ...unbinds.map((c) => device(c, false)),
      {kind: 'group-type', group: id, from: current, to: type},
      ...unbinds.map((c) => device(c, true)),
    ],
    forced,
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
