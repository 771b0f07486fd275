// `mdevs create` and `mdevs remove`: one mdev made or taken away through the journalled
// Transaction, as mdevctl does for a transient (one-boot) mdev. Refusals come before anything
// is written: an unknown or ambiguous type, a type with no instances left, a UUID in use, an
// mdev some process holds open.
import {randomUUID} from 'node:crypto'

import {ExitCode, IommuctlError} from '../errors.js'
import {deviceHolders} from '../model/holders.js'
import {printable} from '../printable.js'
import {
  MDEV_TYPE_PATTERN,
  MdevDeviceSysfs,
  noSuchMdev,
  readMdevDevice,
  readMdevParents,
  requireUuid,
} from '../sysfs/mdev.js'
import {Root} from '../sysfs/root.js'
import {ChangeOptions, ChangeReport, Changer, deviceBusy, requireLive} from './changes.js'

export interface MdevCreateOptions extends ChangeOptions {
  /** The parent to create it on, when more than one offers the type. */
  parent?: string
  /** The UUID to give it; a random one (as mdevctl does) when absent. */
  uuid?: string
}

/** `mdevs create TYPE`: writes a UUID to the type's create file, then checks the mdev is there. */
export function createMdev(root: Root, type: string, opts: MdevCreateOptions): ChangeReport {
  if (!MDEV_TYPE_PATTERN.test(type)) {
    throw new IommuctlError('BAD_MDEV_TYPE', `${printable(JSON.stringify(type))} is not an mdev type name.`, {
      exit: ExitCode.usage,
      suggestion: 'Give a type as `iommuctl mdevs list` names it, e.g. mtty-2.',
    })
  }
  if (opts.parent !== undefined && !MDEV_TYPE_PATTERN.test(opts.parent)) {
    throw new IommuctlError(
      'BAD_MDEV_PARENT',
      `${printable(JSON.stringify(opts.parent))} is not an mdev parent name.`,
      {exit: ExitCode.usage, suggestion: 'Give a parent as `iommuctl mdevs list` names it.'},
    )
  }
  const uuid = (opts.uuid ?? randomUUID()).toLowerCase()
  requireUuid(uuid)
  requireLive(root, opts.dryRun)
  const parents = readMdevParents(root)
  const offers = parents.flatMap((p) =>
    p.types.filter((t) => t.id === type && (opts.parent === undefined || p.name === opts.parent)),
  )
  if (offers.length === 0) {
    const known = parents.flatMap((p) => p.types.map((t) => `${t.id} (on ${p.name})`))
    throw new IommuctlError(
      'UNKNOWN_MDEV_TYPE',
      `No mdev parent${opts.parent ? ` ${opts.parent}` : ''} offers the type ${type}.`,
      {
        suggestion: known.length
          ? `The types here: ${known.join(', ')}.`
          : 'No device here can make mdevs: load its driver (a vGPU host driver, vfio-ap, mtty...) first.',
      },
    )
  }
  if (offers.length > 1) {
    throw new IommuctlError(
      'AMBIGUOUS_MDEV_TYPE',
      `${offers.length} parents offer the type ${type}: ${offers.map((t) => t.parent).join(', ')}.`,
      {exit: ExitCode.usage, suggestion: 'Say which with --parent.'},
    )
  }
  const t = offers[0]!
  if (t.availableInstances === 0) {
    throw new IommuctlError(
      'NO_MDEV_INSTANCES',
      `${t.parent} can make no more mdevs of type ${type}: its available_instances is 0.`,
      {
        path: `/sys/class/mdev_bus/${t.parent}/mdev_supported_types/${type}/available_instances`,
        suggestion: `Remove one it has made (${t.devices.length ? t.devices.join(', ') : 'see `iommuctl mdevs list`'}) first.`,
      },
    )
  }
  if (readMdevDevice(root, uuid)) {
    throw new IommuctlError('MDEV_EXISTS', `An mdev ${uuid} exists already.`, {
      path: `/sys/bus/mdev/devices/${uuid}`,
      suggestion: 'Give another --uuid, or none for a random one.',
    })
  }
  const mdev = {uuid, parent: t.parent, type}
  return run(root, 'mdev-create', opts, mdev, {
    changes: [{kind: 'mdev-create', ...mdev}],
    plan: `Would create mdev ${uuid} of type ${type} on ${t.parent}.`,
    done: `Created mdev ${uuid} of type ${type} on ${t.parent}; \`iommuctl mdevs remove ${uuid}\` removes it.`,
  })
}

/**
 * `mdevs remove UUID`: writes 1 to its remove file, then checks it is gone. Refused while a
 * process has it open: mdev_device_remove unregisters the VFIO device, which waits until the last
 * user closes it (vfio_unregister_group_dev), so the write would hang.
 */
export function removeMdev(root: Root, given: string, opts: ChangeOptions): ChangeReport {
  const uuid = given.toLowerCase()
  requireUuid(uuid)
  requireLive(root, opts.dryRun)
  const dev = readMdevDevice(root, uuid)
  if (!dev) return settleGone(root, uuid, opts)
  if (dev.parent === null || dev.type === null) {
    throw new IommuctlError(
      'BAD_MDEV',
      `mdev ${uuid} has no readable ${dev.parent === null ? 'parent' : 'mdev_type link'}: it could not be made again if the removal failed half-way.`,
      {path: dev.sysfsPath},
    )
  }
  refuseHeldMdev(root, dev)
  const mdev = {uuid, parent: dev.parent, type: dev.type}
  return run(root, 'mdev-remove', opts, mdev, {
    changes: [{kind: 'mdev-remove', ...mdev}],
    plan: `Would remove mdev ${uuid} (${dev.type} on ${dev.parent}).`,
    done: `Removed mdev ${uuid} (${dev.type} on ${dev.parent}).`,
  })
}

function refuseHeldMdev(root: Root, dev: MdevDeviceSysfs): void {
  const nodes = [dev.vfioCdev, dev.group === null ? null : `/dev/vfio/${dev.group}`]
  const found = deviceHolders(
    root,
    nodes.filter((n): n is string => n !== null),
  ).holders
  if (found.length) {
    throw deviceBusy(
      [{name: `mdev ${dev.uuid}`, holders: found}],
      'Removing it would wait until that process lets it go.',
    )
  }
}

/**
 * The journal's lock held, an interrupted run's entry for this very mdev settled (the user is
 * finishing what it began), then the change made or planned.
 */
function run(
  root: Root,
  command: 'mdev-create' | 'mdev-remove',
  opts: ChangeOptions,
  mdev: NonNullable<ChangeReport['mdev']>,
  p: {changes: Parameters<Changer['execute']>[0]['changes']; plan: string; done: string},
): ChangeReport {
  const ch = new Changer(root, command, opts)
  ch.open()
  try {
    settleInterrupted(ch, mdev.uuid, opts.dryRun)
    return {...ch.execute({devices: [], ...p, none: p.done}), mdev}
  } finally {
    ch.close()
  }
}

/** A remove of an mdev that is not there: nothing to do when it is the leftover of an interrupted create. */
function settleGone(root: Root, uuid: string, opts: ChangeOptions): ChangeReport {
  const ch = new Changer(root, 'mdev-remove', opts)
  ch.open()
  try {
    const entry = ch.journal.data.mdevs?.[uuid]
    if (!entry || !ch.journal.interruptedMdevs().includes(uuid)) throw noSuchMdev(uuid)
    settleInterrupted(ch, uuid, opts.dryRun)
    return ch.report([], {
      mdev: {uuid, parent: entry.parent, type: entry.type},
      summary: `Nothing to do: mdev ${uuid} is not there; the interrupted ${entry.action} left nothing${opts.dryRun ? '' : ', and its journal entry is dropped'}.`,
    })
  } finally {
    ch.close()
  }
}

/** Drops an interrupted run's journal entry for this UUID (a real run only). */
function settleInterrupted(ch: Changer, uuid: string, dryRun: boolean): void {
  if (dryRun || !ch.journal.interruptedMdevs().includes(uuid)) return
  const rest = Object.fromEntries(Object.entries(ch.journal.data.mdevs ?? {}).filter(([u]) => u !== uuid))
  if (Object.keys(rest).length) ch.journal.data.mdevs = rest
  else delete ch.journal.data.mdevs
  ch.journal.save()
}
