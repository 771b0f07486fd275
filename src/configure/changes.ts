import {ExitCode, IommuctlError} from '../errors.js'
import {allowsVfio} from '../model/groups.js'
import {PciTopology, PCI_CLASS_BRIDGE_PCI} from '../model/topology.js'
import {Bdf} from '../records.js'
import {GROUPS_DIR, PCI_DEVICES_DIR} from '../sysfs/inventory.js'
import {noSuchDevice, PciDeviceSysfs, requireBdfs} from '../sysfs/pci.js'
import {Root} from '../sysfs/root.js'
import {isVfioDriver} from '../vfio/driver.js'
import {
  driverAvailability,
  loadModule,
  unknownDriver,
  validateDriverName,
  VariantAlias,
  variantAliases,
  variantDriver,
} from './drivers.js'
import {Interlock, InterlockFacts} from './interlocks.js'
import {Journal} from './journal.js'
import {Step} from '../step.js'
import {DriverState, Mover, readDriverState, requireWritable, sameState, StepError} from './mover.js'

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
  command: 'bind' | 'unbind' | 'restore' | 'set-type'
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

/** Context shared by the commands that change drivers. */
export class Changer {
  readonly topology: PciTopology
  readonly journal: Journal
  readonly mover: Mover
  private readonly facts: InterlockFacts

  constructor(
    readonly root: Root,
    readonly command: ChangeReport['command'],
    readonly opts: ChangeOptions,
  ) {
    this.topology = new PciTopology(root)
    this.journal = new Journal(opts.journalDir)
    this.mover = new Mover(root, opts.onStep)
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

  /** Refuses (unless --force) to take any of these devices off its driver; returns what --force overrode. */
  checkInterlocks(changes: DeviceChange[], named: Set<string>): Interlock[] {
    const found = changes
      .filter((c) => c.changes && c.from.driver !== c.to.driver)
      .flatMap((c) => this.facts.check(this.device(c.bdf)).map((i) => ({i, c})))
    if (found.length === 0 || this.opts.force) return found.map(({i}) => i)
    const lines = found.map(({i, c}) => {
      const via =
        c.reason === 'group'
          ? ` (it is in group ${c.group} with ${[...named].join(', ')}, and VFIO takes the whole group)`
          : ''
      return `${i.bdf}${via}: ${i.reason}`
    })
    throw new IommuctlError('REFUSED', `Refused: ${lines.join('; ')}.`, {
      suggestion: 'If you are sure, and have another way into this host, add --force.',
    })
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

  /** Writes the journal entry for each device before it changes (pending: this run's pid). */
  journalBefore(changes: DeviceChange[]): Set<string> {
    const added = new Set<string>()
    const at = new Date().toISOString()
    for (const c of changes) {
      const existing = this.journal.data.devices[c.bdf]
      if (existing) existing.pendingPid = process.pid
      else {
        this.journal.data.devices[c.bdf] = {...c.from, by: this.command, at, pendingPid: process.pid}
        added.add(c.bdf)
      }
    }
    this.journal.save()
    return added
  }

  /**
   * Applies each change in order. If one fails, every device changed so far (and the one that
   * failed) goes back to its `from` state, in reverse order; the journal entries this run added
   * go, and the error says which step failed and what was put back.
   */
  applyAll(changes: DeviceChange[], added: Set<string>, keep: (c: DeviceChange) => boolean): void {
    const done: DeviceChange[] = []
    try {
      for (const c of changes) {
        done.push(c)
        this.mover.apply(c.bdf, c.to)
      }
    } catch (error) {
      if (!(error instanceof StepError)) throw error
      const undone = this.rollback(done)
      for (const c of changes) {
        if (added.has(c.bdf) && !undone.failed.includes(c.bdf)) this.journal.forget(c.bdf)
        else this.journal.settle(c.bdf)
      }
      this.journal.save()
      throw changeFailed(this.command, error.step, undone.restored, undone.failed, this.mover.steps)
    }
    for (const c of changes) {
      if (!keep(c)) this.journal.forget(c.bdf)
      else this.journal.settle(c.bdf)
    }
    this.journal.save()
  }

  /** Puts devices back to their `from` state, last first; a device that cannot be put back stays journalled. */
  rollback(done: DeviceChange[]): {restored: string[]; failed: string[]} {
    const restored: string[] = []
    const failed: string[] = []
    const taken = this.mover.steps.length
    for (const c of [...done].reverse()) {
      try {
        this.mover.apply(c.bdf, c.from)
        restored.push(c.bdf)
      } catch {
        failed.push(c.bdf)
      }
    }
    this.mover.markUndone(taken)
    return {restored, failed}
  }

  /** Loads the modules the plan needs (listed as steps). */
  loadModules(changes: DeviceChange[]): void {
    for (const driver of new Set(changes.filter((c) => c.changes && c.to.driver).map((c) => c.to.driver!))) {
      if (driverAvailability(this.root, driver) !== 'module') continue
      this.mover.checkStep({bdf: null, action: 'load-module', value: driver}, () =>
        loadModule(this.root, driver),
      )
    }
  }

  /** Checks, before anything changes, that this user can write what the plan writes. */
  requireWritableFor(changes: DeviceChange[]): void {
    if (this.opts.dryRun) return
    const paths = changes.map((c) => this.root.abs(`${PCI_DEVICES_DIR}/${c.bdf}/driver_override`))
    requireWritable([...paths, this.root.abs('/sys/bus/pci/drivers_probe')])
  }

  /** Refuses a new change while a killed run's half-made changes are unrepaired. */
  requireNoInterrupted(): void {
    const left = this.journal.interrupted()
    const groups = this.journal.interruptedGroups()
    if (left.length || groups.length) {
      throw new IommuctlError(
        'INTERRUPTED',
        `An earlier iommuctl run was interrupted and left ${[...left, ...groups.map((g) => `group ${g}`)].join(', ')} half-changed.`,
        {path: this.journal.file, suggestion: 'Run `iommuctl devices restore` to put them back first.'},
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
}

export function changeFailed(
  command: string,
  step: Step,
  restored: string[],
  failed: string[],
  steps: Step[],
): IommuctlError {
  const back = restored.length ? ` Put back as they were: ${restored.join(', ')}.` : ''
  const stuck = failed.length
    ? ` Could not put back: ${failed.join(', ')} (still in the journal: run \`iommuctl devices restore\`).`
    : ''
  const err = new IommuctlError(
    'CHANGE_FAILED',
    `${command} failed at ${step.action}${step.bdf ? ` of ${step.bdf}` : ''}: ${step.error}.${back}${stuck}`,
    {errno: step.errno, path: step.path ?? undefined, steps},
  )
  return err
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
      } else if (opts.group) add(m, 'group')
      else if (!missing.includes(mate)) missing.push(mate)
    }
  }

  // Interlocks first: that a device is the IOMMU itself matters more than that it has no group.
  const forced = ch.checkInterlocks(changes, named)
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
  const target = [...new Set(changes.map((c) => c.to.driver))].join(', ')
  ch.requireWritableFor(changes.filter((c) => c.changes))
  ch.open()
  try {
    return finish(ch, changes, {
      forced,
      skipped,
      keep: () => true,
      none: `Nothing to do: ${changes.map((c) => c.bdf).join(', ')} already on ${target}.`,
      plan: (todo) => `Would move ${list(todo)} to ${target}.`,
      done: (todo) =>
        `Moved ${list(todo)} to ${target}; \`iommuctl devices restore\` gives ${todo.length > 1 ? 'them' : 'it'} back.`,
    })
  } finally {
    ch.close()
  }
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
    const forced = ch.checkInterlocks(
      changes.filter((c) => c.reason === 'named'),
      new Set(bdfs),
    )
    return finish(ch, changes, {
      forced,
      keep: (c) => c.reason === 'named',
      none: `Nothing to do: ${changes.map((c) => `${c.bdf} is on ${c.to.driver ?? 'no driver'}`).join(', ')} already.`,
      plan: (todo) => `Would unbind ${moves(todo)}.`,
      done: (todo) => `Unbound ${moves(todo)}.`,
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
    const groupsDone = restoreGroups(ch)
    const changes = (bdfs.length ? bdfs : journalled).map((bdf): DeviceChange => {
      const j = ch.journal.data.devices[bdf]!
      const exists = root.exists(`${PCI_DEVICES_DIR}/${bdf}`)
      const from = exists ? readDriverState(root, bdf) : j
      const to = {driver: j.driver, driverOverride: j.driverOverride}
      return {
        bdf,
        group: exists ? ch.device(bdf).group : null,
        reason: 'journal',
        from,
        to,
        changes: exists && !sameState(from, to),
        note: exists
          ? j.pendingPid !== undefined && j.pendingPid !== process.pid
            ? `left half-changed by an interrupted ${j.by} (pid ${j.pendingPid})`
            : `as before iommuctl's ${j.by} at ${j.at}`
          : 'the device is gone: its journal entry is dropped',
      }
    })
    const report = finish(ch, changes, {
      keep: () => false,
      none: changes.length
        ? `Nothing to do: ${changes.map((c) => c.bdf).join(', ')} already as recorded.`
        : 'Nothing to do: the journal is empty; every device is as iommuctl found it.',
      plan: (todo) => `Would give back ${moves(todo)}.`,
      done: (todo) => `Gave back ${moves(todo)}.`,
    })
    if (groupsDone.length) {
      report.changed = true
      report.summary = `Put back the type of group ${groupsDone.join(', ')}. ${report.summary}`
    }
    return report
  } finally {
    ch.close()
  }
}

/** An interrupted set-type left a group's type changed: put it back while its devices are off their drivers. */
function restoreGroups(ch: Changer): string[] {
  const done: string[] = []
  for (const [id, g] of Object.entries(ch.journal.data.groups)) {
    if (g.pendingPid === process.pid) continue
    const file = `${GROUPS_DIR}/${id}/type`
    const now = ch.root.readText(file)
    if (now !== null && now !== g.type && !ch.opts.dryRun) {
      // The kernel needs the group's DMA-using drivers off it; journal them first, restore rebinds them.
      for (const bdf of ch.groupMembers(Number(id))) {
        const s = readDriverState(ch.root, bdf)
        if (s.driver && !ch.journal.data.devices[bdf] && !allowsVfio(s.driver)) {
          ch.journal.data.devices[bdf] = {...s, by: 'restore', at: new Date().toISOString()}
        }
      }
      ch.journal.save()
      for (const bdf of ch.groupMembers(Number(id))) {
        const s = readDriverState(ch.root, bdf)
        if (s.driver && !allowsVfio(s.driver)) ch.mover.apply(bdf, {...s, driver: null})
      }
      ch.mover.writeStep(
        {bdf: null, action: 'set-type', path: file, value: g.type},
        (e) => (e as Error).message,
      )
      done.push(id)
    }
    if (!ch.opts.dryRun) {
      ch.journal.forgetGroup(id)
      ch.journal.save()
    }
  }
  return done
}

interface FinishOptions {
  forced?: Interlock[]
  skipped?: ChangeReport['skipped']
  /** Which devices stay journalled after a successful run (restore gives them back later). */
  keep: (c: DeviceChange) => boolean
  none: string
  plan: (todo: DeviceChange[]) => string
  done: (todo: DeviceChange[]) => string
}

/** Plans, prints, journals and applies a list of changes (a dry run stops after the plan). */
function finish(ch: Changer, changes: DeviceChange[], o: FinishOptions): ChangeReport {
  const todo = changes.filter((c) => c.changes)
  const base = {
    forced: o.forced ?? [],
    skipped: o.skipped ?? [],
    warnings: ch.command === 'restore' ? [] : ch.factsWarning(),
  }
  if (todo.length === 0) {
    if (!ch.opts.dryRun && changes.some((c) => !o.keep(c) && ch.journal.data.devices[c.bdf])) {
      // Entries for devices that already are as recorded (or are gone) are done with.
      for (const c of changes) if (!o.keep(c)) ch.journal.forget(c.bdf)
      ch.journal.save()
    }
    return ch.report(changes, {...base, summary: o.none})
  }
  if (ch.command !== 'restore') ch.requireNoInterrupted()
  ch.requireWritableFor(todo)
  const plan = ch.report(changes, {
    ...base,
    steps: todo.flatMap((c) => ch.mover.plan(c.bdf, c.to, c.from)),
    summary: o.plan(todo),
  })
  ch.opts.onPlan?.(plan)
  if (ch.opts.dryRun) return plan
  ch.loadModules(todo)
  const added = ch.journalBefore(todo)
  ch.applyAll(todo, added, o.keep)
  for (const c of changes) if (!c.changes && !o.keep(c)) ch.journal.forget(c.bdf)
  ch.journal.save()
  return ch.report(changes, {...base, changed: true, steps: ch.mover.steps, summary: o.done(todo)})
}
