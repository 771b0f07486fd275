import {ExitCode, IommuctlError} from '../errors.js'
import {directGroups} from '../model/direct.js'
import {deviceHolders, describeHolders} from '../model/holders.js'
import {allowsVfio} from '../model/groups.js'
import {PciTopology, PCI_CLASS_BRIDGE_PCI} from '../model/topology.js'
import {Bdf, MdevName, MdevUuid} from '../records.js'
import {GROUPS_DIR, PCI_DEVICES_DIR} from '../sysfs/inventory.js'
import {noSuchDevice, PciDeviceSysfs, requireBdfs} from '../sysfs/pci.js'
import {Holder} from '../sysfs/holders.js'
import {Root} from '../sysfs/root.js'
import {isVfioDriver} from '../vfio/driver.js'
import {
  driverAvailability,
  unknownDriver,
  validateDriverName,
  VariantAlias,
  variantAliases,
  variantDriver,
} from './drivers.js'
import {Interlock, InterlockFacts} from './interlocks.js'
import {Journal, JournalCount, JournalDomainType} from './journal.js'
import {Step} from '../step.js'
import {DriverState, readDriverState, requireWritable, sameState, SysfsHost} from './mover.js'
import {Change, numVfsPath, planSteps, poolPath, Transaction} from './transaction.js'

/** One device in a plan: where it is, where it goes, and why it is in the plan. */
export interface DeviceChange {
  bdf: Bdf
  group: number | null
  /** named: on the command line; group: taken along because VFIO needs the whole group; journal: restored from the journal. */
  reason: 'named' | 'group' | 'journal'
  from: DriverState
  to: DriverState
  /** Whether anything changes for it. */
  changes: boolean
  /** Extra words for the plan (the variant driver picked, the module to load). */
  note: string | null
}

/** What `devices bind`, `devices unbind`, `devices restore` and `groups set-type` print. */
export interface ChangeReport {
  command: 'bind' | 'unbind' | 'restore' | 'set-type' | 'mdev-create' | 'mdev-remove' | 'host-apply'
  dryRun: boolean
  /** Whether the host was changed (false for a dry run and when everything already was as asked). */
  changed: boolean
  devices: DeviceChange[]
  /** Group members left where they are (bridges), with the reason. */
  skipped: {bdf: Bdf; reason: string}[]
  /** Interlocks that --force overrode. */
  forced: Interlock[]
  steps: Step[]
  warnings: string[]
  /** The journal file that records what to give back. */
  journal: string
  summary: string
  /** For `mdevs create` and `mdevs remove`: the mdev made or removed. */
  mdev?: {uuid: MdevUuid; parent: MdevName; type: MdevName}
  /** The host config `--persist` edited. */
  persisted?: string
}

export interface ChangeOptions {
  dryRun: boolean
  force: boolean
  journalDir: string
  /** Called as each step finishes (the table output prints them live). */
  onStep?: (step: Step) => void
  /** Called with the plan before anything changes. */
  onPlan?: (report: ChangeReport) => void
}

/** Changes go to the live host only; a snapshot or another tree can be planned against (--dry-run). */
export function requireLive(root: Root, dryRun: boolean): void {
  if (dryRun || (root.dir === '/' && !root.isSnapshot)) return
  throw new IommuctlError(
    'NOT_LIVE',
    `${root.source} is not the live host: iommuctl changes only the running system's /sys.`,
    {
      exit: ExitCode.usage,
      suggestion: 'Add --dry-run to see the plan against this tree, or leave out --root.',
    },
  )
}

/**
 * A plan: the devices it is about (the report's rows), the changes a Transaction makes, in
 * order, and the words for each outcome. Commands only build these; `execute` runs them.
 */
export interface ChangePlan {
  devices: DeviceChange[]
  changes: Change[]
  skipped?: ChangeReport['skipped']
  forced?: Interlock[]
  warnings?: string[]
  /** The summary when the plan changes nothing on the host. */
  none: string
  /** The summary of a dry run. */
  plan: string
  /** The summary once it is done (read after the changes, when it says what the host has now). */
  done: string | (() => string)
}

/** Context shared by the commands that change drivers and group types. */
export class Changer {
  readonly topology: PciTopology
  readonly journal: Journal
  private readonly facts: InterlockFacts

  constructor(
    readonly root: Root,
    readonly command: ChangeReport['command'],
    readonly opts: ChangeOptions,
  ) {
    this.topology = new PciTopology(root)
    this.journal = new Journal(opts.journalDir)
    this.facts = new InterlockFacts(root)
  }

  device(bdf: string): PciDeviceSysfs {
    const node = this.topology.get(bdf)
    if (!node) throw noSuchDevice(bdf)
    return node.sysfs
  }

  isBridge(dev: PciDeviceSysfs): boolean {
    return dev.classCode !== null && dev.classCode >> 8 === PCI_CLASS_BRIDGE_PCI
  }

  groupMembers(group: number): string[] {
    return this.root.list(`${GROUPS_DIR}/${group}/devices`)
  }

  /**
   * Refuses (unless --force) to take any of these devices off its driver; returns what --force
   * overrode. A device the plan takes along says why, in the plan's own words (its note).
   */
  checkInterlocks(changes: DeviceChange[]): Interlock[] {
    const found = changes
      .filter((c) => c.changes && c.from.driver !== c.to.driver)
      .flatMap((c) => this.facts.check(this.device(c.bdf)).map((i) => ({i, c})))
    if (found.length === 0 || this.opts.force) return found.map(({i}) => i)
    const lines = found.map(
      ({i, c}) => `${i.bdf}${c.reason !== 'named' && c.note ? ` (${c.note})` : ''}: ${i.reason}`,
    )
    throw new IommuctlError('REFUSED', `Refused: ${lines.join('; ')}.`, {
      suggestion: 'If you are sure, and have another way into this host, add --force.',
    })
  }

  /**
   * Refuses (even with --force) to take a device off its VFIO driver while a process has its cdev
   * or group open: vfio-pci's remove waits until the user lets the device go, so the unbind would
   * hang. Only a live host can say.
   */
  refuseHeld(changes: DeviceChange[]): void {
    if (!this.root.isLive) return
    const held = changes
      .filter((c) => c.changes && c.from.driver !== c.to.driver && isVfioDriver(c.from.driver))
      .flatMap((c) => {
        // A journalled device that is gone has nothing to hold.
        const dev = this.topology.get(c.bdf)?.sysfs
        if (!dev) return []
        const nodes = [dev.vfioCdev, dev.group === null ? null : `/dev/vfio/${dev.group}`]
        const found = deviceHolders(
          this.root,
          nodes.filter((n): n is string => n !== null),
        ).holders
        return found.length ? [{c, found}] : []
      })
    if (held.length === 0) return
    throw deviceBusy(
      held.map(({c, found}) => ({name: c.bdf, holders: found})),
      `Taking it off ${held[0]!.c.from.driver} would wait until that process lets it go.`,
    )
  }

  report(devices: DeviceChange[], extra: Partial<ChangeReport> = {}): ChangeReport {
    return {
      command: this.command,
      dryRun: this.opts.dryRun,
      changed: false,
      devices,
      skipped: [],
      forced: [],
      steps: [],
      warnings: [],
      journal: this.journal.file,
      summary: '',
      ...extra,
    }
  }

  factsWarning(): string[] {
    return this.facts.unchecked ? [this.facts.unchecked] : []
  }

  /** Refuses a new change while a killed run's half-made changes are unrepaired. */
  requireNoInterrupted(): void {
    const left = this.journal.interrupted()
    const groups = this.journal.interruptedGroups()
    const counts = this.journal.interruptedCounts()
    if (left.length || groups.length || counts.length) {
      throw new IommuctlError(
        'INTERRUPTED',
        `An earlier iommuctl run was interrupted and left ${[...left, ...groups.map((g) => `group ${g}`), ...counts].join(', ')} half-changed.`,
        {path: this.journal.file, suggestion: 'Run `iommuctl devices restore` to put them back first.'},
      )
    }
    const mdevs = this.journal.interruptedMdevs()
    if (mdevs.length) {
      const what = mdevs.map((u) => `${this.journal.data.mdevs![u]!.action} of mdev ${u}`)
      throw new IommuctlError(
        'INTERRUPTED',
        `An earlier iommuctl run was interrupted during the ${what.join(', ')}.`,
        {
          path: this.journal.file,
          suggestion: `Settle ${mdevs.length > 1 ? 'them' : 'it'} first: \`iommuctl mdevs remove UUID\` after a create, \`iommuctl mdevs create TYPE --uuid UUID\` after a remove (either says when nothing is left to do).`,
        },
      )
    }
  }

  /** Takes the journal's lock for a real run; a dry run only reads it. */
  open(): void {
    if (this.opts.dryRun) this.journal.load()
    else this.journal.lock()
  }

  close(): void {
    this.journal.unlock()
  }

  /**
   * Prints the plan, and in a real run hands it to a Transaction. A dry run's steps are the
   * plan's; a real run's are the steps taken. A plan with no steps may still drop journal
   * entries (devices already as recorded).
   */
  execute(p: ChangePlan): ChangeReport {
    const steps = planSteps(p.changes)
    const base = {forced: p.forced ?? [], skipped: p.skipped ?? [], warnings: p.warnings ?? []}
    const plan = this.report(p.devices, {...base, steps, summary: steps.length ? p.plan : p.none})
    if (steps.length === 0) {
      if (!this.opts.dryRun)
        new Transaction(new SysfsHost(this.root), this.journal, this.command).run(p.changes)
      return plan
    }
    if (this.command !== 'restore') this.requireNoInterrupted()
    this.requireWritable(steps)
    this.opts.onPlan?.(plan)
    if (this.opts.dryRun) return plan
    const tx = new Transaction(new SysfsHost(this.root), this.journal, this.command, this.opts.onStep)
    tx.run(p.changes)
    return this.report(p.devices, {
      ...base,
      changed: true,
      steps: tx.steps,
      summary: typeof p.done === 'string' ? p.done : p.done(),
    })
  }

  /** Checks, before anything changes, that this user can write what the plan writes (what exists yet). */
  private requireWritable(steps: Step[]): void {
    if (this.opts.dryRun) return
    const paths = [...new Set(steps.flatMap((s) => (s.path && this.root.exists(s.path) ? [s.path] : [])))]
    requireWritable(paths.map((p) => this.root.abs(p)))
  }
}

/**
 * The refusal of a change while processes hold devices open (a VFIO driver's remove, like
 * vfio_unregister_group_dev, waits for the last user): each device's holders, then why.
 */
export function deviceBusy(held: {name: string; holders: Holder[]}[], why: string): IommuctlError {
  const first = held[0]!.holders[0]!
  return new IommuctlError(
    'DEVICE_BUSY',
    `${held.map(({name, holders}) => `${name} is open in another process: ${describeHolders(holders)}`).join('; ')}. ${why}`,
    {path: first.path, suggestion: `Stop that process first (kill ${first.pid}), then try again.`},
  )
}

/** The device changes, then the module loads they need first. */
function deviceChanges(
  rows: DeviceChange[],
  journal: 'record' | 'give-back' | ((c: DeviceChange) => 'record' | 'give-back'),
): Change[] {
  return rows.map((c) => ({
    kind: 'device' as const,
    bdf: c.bdf,
    from: c.from,
    to: c.to,
    journal: typeof journal === 'function' ? journal(c) : journal,
  }))
}

export interface BindOptions extends ChangeOptions {
  driver?: string
  group: boolean
}

/** `devices bind`: plans, checks and makes the move of the named devices (and their groups, for VFIO). */
export function bind(root: Root, bdfs: string[], opts: BindOptions): ChangeReport {
  requireBdfs(bdfs)
  if (opts.driver !== undefined) validateDriverName(opts.driver)
  requireLive(root, opts.dryRun)
  const ch = new Changer(root, 'bind', opts)
  const p = planBind(ch, bdfs, opts)
  const target = [...new Set(p.changes.map((c) => c.to.driver))].join(', ')
  const todo = p.changes.filter((c) => c.changes)
  ch.open()
  try {
    return ch.execute({
      devices: p.changes,
      changes: [
        ...p.modules.map((driver): Change => ({kind: 'load-module', driver})),
        ...deviceChanges(p.changes, 'record'),
      ],
      skipped: p.skipped,
      forced: p.forced,
      warnings: [...ch.factsWarning(), ...p.warnings],
      none: `Nothing to do: ${p.changes.map((c) => c.bdf).join(', ')} already on ${target}.`,
      plan: `Would move ${list(todo)} to ${target}.`,
      done: `Moved ${list(todo)} to ${target}; \`iommuctl devices restore\` gives ${todo.length > 1 ? 'them' : 'it'} back.`,
    })
  } finally {
    ch.close()
  }
}

/** What a bind of some devices to one driver does: the moves (group mates included), bridges left, what --force overrode, modules to load first. */
export interface BindPlan {
  changes: DeviceChange[]
  skipped: ChangeReport['skipped']
  forced: Interlock[]
  modules: string[]
  warnings: string[]
}

/**
 * Plans the move of the named devices (and, for VFIO, their groups) to opts.driver or each one's
 * VFIO driver, refusing what a bind refuses; `devices bind` and `host apply` both plan with it.
 */
export function planBind(ch: Changer, bdfs: string[], opts: {driver?: string; group: boolean}): BindPlan {
  const root = ch.root
  const named = new Set(bdfs)
  const devices = bdfs.map((b) => ch.device(b))

  // Each device's target, found once (modules.alias, too, is read once).
  let aliases: VariantAlias[] | undefined
  const targets = new Map<string, {driver: string; note: string | null}>()
  const targetOf = (dev: PciDeviceSysfs): {driver: string; note: string | null} => {
    if (opts.driver) return {driver: opts.driver, note: null}
    let target = targets.get(dev.bdf)
    if (!target) {
      aliases ??= variantAliases(root)
      const variant = variantDriver(aliases, root.readText(`${PCI_DEVICES_DIR}/${dev.bdf}/modalias`))
      target = variant
        ? {driver: variant, note: `${variant}: the VFIO variant driver modules.alias names for it`}
        : {driver: 'vfio-pci', note: null}
      targets.set(dev.bdf, target)
    }
    return target
  }

  const changes: DeviceChange[] = []
  const skipped: ChangeReport['skipped'] = []
  const add = (dev: PciDeviceSysfs, reason: DeviceChange['reason']) => {
    if (changes.some((c) => c.bdf === dev.bdf)) return
    const {driver, note} = targetOf(dev)
    const from = readDriverState(root, dev.bdf)
    const to = {driver, driverOverride: driver}
    changes.push({bdf: dev.bdf, group: dev.group, reason, from, to, changes: !sameState(from, to), note})
  }
  for (const dev of devices) add(dev, 'named')

  // VFIO takes a whole group: every endpoint of it must be on a VFIO driver (bridges stay).
  const missing: string[] = []
  const noGroup: string[] = []
  for (const dev of devices) {
    if (!isVfioDriver(targetOf(dev).driver)) continue
    if (dev.group === null) {
      noGroup.push(dev.bdf)
      continue
    }
    for (const mate of ch.groupMembers(dev.group)) {
      if (named.has(mate)) continue
      const m = ch.device(mate)
      if (ch.isBridge(m)) {
        if (!skipped.some((s) => s.bdf === mate)) {
          skipped.push({
            bdf: mate,
            reason: `bridge in group ${dev.group}: stays on ${m.driver ?? 'no driver'} (VFIO does not need bridges)`,
          })
        }
      } else if (opts.group) {
        add(m, 'group')
        const c = changes.at(-1)!
        if (c.bdf === mate && c.reason === 'group') {
          c.note = [`in group ${dev.group} with ${bdfs.join(', ')}, and VFIO takes the whole group`, c.note]
            .filter(Boolean)
            .join('; ')
        }
      } else if (!missing.includes(mate)) missing.push(mate)
    }
  }

  // Interlocks first: that a device is the IOMMU itself matters more than that it has no group.
  const forced = ch.checkInterlocks(changes)
  ch.refuseHeld(changes)
  if (noGroup.length) {
    throw new IommuctlError(
      'NO_GROUP',
      `${noGroup.join(', ')} ${noGroup.length > 1 ? 'are' : 'is'} in no IOMMU group: VFIO cannot use ${noGroup.length > 1 ? 'them' : 'it'}.`,
      {
        path: `${PCI_DEVICES_DIR}/${noGroup[0]}/iommu_group`,
        suggestion: 'Enable the IOMMU (see `iommuctl status`), or give another --driver.',
      },
    )
  }
  if (missing.length) {
    throw new IommuctlError(
      'GROUP_INCOMPLETE',
      `VFIO needs every device of a group: ${missing.join(', ')} ${missing.length > 1 ? 'share' : 'shares'} a group with ${bdfs.join(', ')} and would have to move too.`,
      {
        suggestion: `Add --group to move the whole group, or name ${missing.length > 1 ? 'them' : 'it'} as well; --dry-run shows the plan.`,
      },
    )
  }
  for (const c of changes.filter((x) => x.changes)) {
    const availability = driverAvailability(root, c.to.driver!)
    if (availability === 'unknown') throw unknownDriver(root, c.to.driver!)
    if (availability === 'module')
      c.note = [c.note, `loads the ${c.to.driver} module first`].filter(Boolean).join('; ')
  }
  const todo = changes.filter((c) => c.changes)
  const modules = [...new Set(todo.map((c) => c.to.driver!))].filter(
    (d) => driverAvailability(root, d) === 'module',
  )
  // The kernel lets vfio-pci bind a device it will not give a VFIO domain (require_direct): say so.
  const vfioGroups = [
    ...new Set(changes.filter((c) => isVfioDriver(c.to.driver) && c.group !== null).map((c) => c.group!)),
  ]
  const direct = directGroups(
    root,
    ch.topology,
    vfioGroups.map((id) => ({id, devices: ch.groupMembers(id)})),
  ).filter((d) => d.mapping.requiresDirect)
  const directWarnings = direct.map(
    (d) =>
      `group ${d.id}: ${d.mapping.summary}; vfio-pci will bind, but opening the device for a VM fails with EINVAL`,
  )
  return {changes, skipped, forced, modules, warnings: directWarnings}
}

const list = (changes: DeviceChange[]) => changes.map((c) => c.bdf).join(', ')
const moves = (changes: DeviceChange[]) =>
  changes.map((c) => `${c.bdf} → ${c.to.driver ?? 'no driver'}`).join(', ')

/**
 * `devices unbind`: a device iommuctl moved goes back to what the journal says it had; any
 * other device is taken off its driver and left with none (journalled, so restore gives it back).
 */
export function unbind(root: Root, bdfs: string[], opts: ChangeOptions): ChangeReport {
  requireBdfs(bdfs)
  requireLive(root, opts.dryRun)
  const ch = new Changer(root, 'unbind', opts)
  for (const b of bdfs) ch.device(b)
  ch.open()
  try {
    const changes = bdfs.map((bdf): DeviceChange => {
      const dev = ch.device(bdf)
      const from = readDriverState(root, bdf)
      const j = ch.journal.data.devices[bdf]
      const to = j
        ? {driver: j.driver, driverOverride: j.driverOverride}
        : {driver: null, driverOverride: from.driverOverride}
      return {
        bdf,
        group: dev.group,
        reason: j ? 'journal' : 'named',
        from,
        to,
        changes: !sameState(from, to),
        note: j ? `back to ${j.driver ?? 'no driver'}, as before iommuctl's ${j.by}` : null,
      }
    })
    for (const c of changes.filter((x) => x.changes && x.to.driver)) {
      if (driverAvailability(root, c.to.driver!) === 'unknown') throw unknownDriver(root, c.to.driver!)
    }
    // Giving a device back is never refused; taking one off its driver is checked like a bind.
    const forced = ch.checkInterlocks(changes.filter((c) => c.reason === 'named'))
    // Giving a device back waits for its VFIO user like any unbind.
    ch.refuseHeld(changes)
    const todo = changes.filter((c) => c.changes)
    return ch.execute({
      devices: changes,
      changes: deviceChanges(changes, (c) => (c.reason === 'named' ? 'record' : 'give-back')),
      forced,
      warnings: ch.factsWarning(),
      none: `Nothing to do: ${changes.map((c) => `${c.bdf} is on ${c.to.driver ?? 'no driver'}`).join(', ')} already.`,
      plan: `Would unbind ${moves(todo)}.`,
      done: `Unbound ${moves(todo)}.`,
    })
  } finally {
    ch.close()
  }
}

/** `devices restore`: every journalled device (or the named ones) back to what it had. */
export function restore(root: Root, bdfs: string[], opts: ChangeOptions): ChangeReport {
  requireBdfs(bdfs)
  requireLive(root, opts.dryRun)
  const ch = new Changer(root, 'restore', opts)
  ch.open()
  try {
    const journalled = Object.keys(ch.journal.data.devices)
    const notThere = bdfs.filter((b) => !journalled.includes(b))
    if (notThere.length) {
      throw new IommuctlError(
        'NOT_JOURNALLED',
        `iommuctl has no record of changing ${notThere.join(', ')}: nothing to give back.`,
        {
          path: ch.journal.file,
          suggestion: journalled.length
            ? `The journal holds ${journalled.join(', ')}.`
            : 'The journal is empty: every device is as iommuctl found it.',
        },
      )
    }
    const repairs = groupRepairs(ch)
    const unbound = new Map(repairs.flatMap((r) => r.unbind.map((c) => [c.bdf, c.to] as const)))
    const wanted = bdfs.length ? bdfs : journalled
    // A device the repair unbinds is given back too, to what its journal entry (new or old) says.
    const names = [...wanted, ...[...unbound.keys()].filter((b) => !wanted.includes(b))]
    const devices = names.map((bdf): DeviceChange => {
      const j = ch.journal.data.devices[bdf] ?? {
        ...readDriverState(root, bdf),
        by: 'restore' as const,
        at: '',
      }
      const exists = root.exists(`${PCI_DEVICES_DIR}/${bdf}`)
      const now = exists ? readDriverState(root, bdf) : j
      const to = {driver: j.driver, driverOverride: j.driverOverride}
      const repairing = unbound.has(bdf)
      return {
        bdf,
        group: exists ? ch.device(bdf).group : null,
        reason: 'journal',
        from: now,
        to,
        changes: exists && (repairing || !sameState(now, to)),
        note: !exists
          ? 'the device is gone: its journal entry is dropped'
          : [
              repairing ? `unbound while group ${ch.device(bdf).group} gets its type back` : null,
              !ch.journal.data.devices[bdf]
                ? null
                : j.pendingPid !== undefined && j.pendingPid !== process.pid
                  ? `left half-changed by an interrupted ${j.by} (pid ${j.pendingPid})`
                  : `as before iommuctl's ${j.by} at ${j.at}`,
            ]
              .filter(Boolean)
              .join('; '),
      }
    })
    // The give-backs start from where the repairs leave each device.
    const giveBacks = devices.map((c): Change => ({
      kind: 'device',
      bdf: c.bdf,
      from: unbound.get(c.bdf) ?? c.from,
      to: c.changes ? c.to : c.from,
      journal: 'give-back',
    }))
    ch.refuseHeld(devices)
    const todo = devices.filter((c) => c.changes)
    const fixed = repairs.filter((r) => r.change.from !== r.change.to).map((r) => r.change.group)
    const groupWords = fixed.length ? `the type of group ${fixed.join(', ')}` : ''
    const counts = countRepairs(ch)
    const countWords = counts
      .filter((c) => c.from !== c.to)
      .map((c) => `${c.kind === 'sriov' ? `the VF count of ${c.bdf}` : c.path} (${c.from} → ${c.to})`)
    const both = (devicesWords: string) =>
      [groupWords, devicesWords, ...countWords].filter(Boolean).join(' and ')
    return ch.execute({
      devices,
      changes: [
        ...repairs.flatMap((r): Change[] => [
          ...r.unbind.map((c): Change => ({
            kind: 'device',
            bdf: c.bdf,
            from: c.from,
            to: c.to,
            journal: 'transient',
          })),
          r.change,
        ]),
        ...giveBacks,
        ...counts,
      ],
      none: devices.length
        ? `Nothing to do: ${devices.map((c) => c.bdf).join(', ')} already as recorded.`
        : repairs.length
          ? `Nothing to do: group ${repairs.map((r) => r.change.group).join(', ')} already has its recorded type.`
          : 'Nothing to do: the journal is empty; every device is as iommuctl found it.',
      plan: `Would give back ${both(todo.length ? moves(todo) : '')}.`,
      done: `Gave back ${both(todo.length ? moves(todo) : '')}.`,
    })
  } finally {
    ch.close()
  }
}

/**
 * VF counts and hugepage pools a killed run left changed, each back to the count it had; after
 * the give-backs, so that a VF is given back before its PF's count takes it away.
 */
function countRepairs(ch: Changer): (Change & {kind: 'sriov' | 'hugepages'})[] {
  const now = (path: string, was: number) => {
    const text = ch.root.readText(path)
    return text === null ? was : Number(text)
  }
  const mine = ([, c]: [string, JournalCount]) => c.pendingPid !== process.pid
  return [
    ...Object.entries(ch.journal.data.vfs ?? {})
      .filter(mine)
      .map(([bdf, c]) => ({kind: 'sriov' as const, bdf, from: now(numVfsPath(bdf), c.from), to: c.from})),
    ...Object.entries(ch.journal.data.hugepages ?? {})
      .filter(mine)
      .map(([pool, c]) => {
        const path = poolPath(pool)
        return {kind: 'hugepages' as const, path, from: now(path, c.from), to: c.from}
      }),
  ]
}

/**
 * Groups whose type an interrupted set-type left changed (or its entry only): the type goes
 * back while the group's DMA-using drivers are off it (the kernel refuses it otherwise), and the
 * give-backs that follow bind them again.
 */
function groupRepairs(
  ch: Changer,
): {change: Change & {kind: 'group-type'}; unbind: {bdf: string; from: DriverState; to: DriverState}[]}[] {
  return Object.entries(ch.journal.data.groups)
    .filter(([, g]) => g.pendingPid !== process.pid)
    .map(([id, g]) => {
      const group = Number(id)
      const now = ch.root.readText(`${GROUPS_DIR}/${id}/type`)
      const change = {kind: 'group-type' as const, group, from: g.type, to: g.type}
      if (now === null || now === g.type) return {change, unbind: []}
      // What it reads now is what a rollback writes back (the kernel refuses blocked or unmanaged).
      change.from = now as JournalDomainType
      const unbind = ch.groupMembers(group).flatMap((bdf) => {
        const s = readDriverState(ch.root, bdf)
        return s.driver && !allowsVfio(s.driver) ? [{bdf, from: s, to: {...s, driver: null}}] : []
      })
      return {change, unbind}
    })
}
