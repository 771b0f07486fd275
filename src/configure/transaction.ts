import {errnoOf, IommuctlError} from '../errors.js'
import {GROUPS_DIR, PCI_DEVICES_DIR} from '../sysfs/inventory.js'
import {MDEV_BUS_CLASS, MDEV_DEVICES_DIR} from '../sysfs/mdev.js'
import {Step} from '../step.js'
import {JournalCommand, JournalCount, JournalData, JournalDomainType, PoolName} from './journal.js'
import {
  DriverState,
  explainMdevWrite,
  explainNumVfsWrite,
  explainTypeWrite,
  explainWrite,
  HostOps,
  planMove,
} from './mover.js'

/**
 * What a device's journal entry becomes. record: it is kept, for restore to give back (bind,
 * unbind); give-back: it goes once the device is back (restore, unbind of a journalled device);
 * transient: the device is off its driver only while something else changes (set-type), so an
 * entry this run made goes at the end.
 */
export type JournalPolicy = 'record' | 'give-back' | 'transient'

/** One change of a plan. Its steps are planned from `from`, the state the plan was made against. */
export type Change =
  | {
      kind: 'device'
      bdf: string
      from: DriverState
      to: DriverState
      journal: JournalPolicy
      /** A VF this run makes: its steps are planned from its state once it exists (its driver may probe it first). */
      live?: boolean
    }
  | {kind: 'group-type'; group: number; from: JournalDomainType; to: JournalDomainType}
  | {kind: 'load-module'; driver: string}
  /** An mdev made (create) or taken away (remove): parent and type say where its create file is. */
  | {kind: 'mdev-create' | 'mdev-remove'; uuid: string; parent: string; type: string}
  /**
   * A PF's VF count (sriov_numvfs), or a hugepage pool's size (nr_hugepages, at poolPath(pool)).
   * Journalled only while the run lasts (VFs and pools do not outlive a boot): the rollback, or
   * the restore after a killed run, puts `from` back.
   */
  | {kind: 'sriov'; bdf: string; from: number; to: number}
  | {kind: 'hugepages'; path: string; from: number; to: number}

/** Where the journal is kept: a Journal, or a fake in tests. */
export interface JournalStore {
  data: JournalData
  save(): void
}

/** The steps of one change, as planned. */
export function stepsOf(c: Change): Step[] {
  switch (c.kind) {
    case 'device':
      return planMove(c.bdf, c.from, c.to)
    case 'group-type':
      return c.from === c.to
        ? []
        : [
            {
              bdf: null,
              action: 'set-type',
              path: `${GROUPS_DIR}/${c.group}/type`,
              value: c.to,
              status: 'planned',
            },
            {bdf: null, action: 'verify', path: null, value: c.to, status: 'planned'},
          ]
    case 'load-module':
      return [{bdf: null, action: 'load-module', path: null, value: c.driver, status: 'planned'}]
    case 'mdev-create':
    case 'mdev-remove':
      return [
        c.kind === 'mdev-create'
          ? {
              bdf: null,
              action: 'create-mdev',
              path: mdevCreateFile(c.parent, c.type),
              value: c.uuid,
              status: 'planned',
            }
          : {
              bdf: null,
              action: 'remove-mdev',
              path: `${MDEV_DEVICES_DIR}/${c.uuid}/remove`,
              value: '1',
              status: 'planned',
            },
        {bdf: null, action: 'verify', path: null, value: c.uuid, status: 'planned'},
      ]
    case 'sriov': {
      if (c.from === c.to) return []
      const step = (value: number): Step => ({
        bdf: c.bdf,
        action: 'set-numvfs',
        path: numVfsPath(c.bdf),
        value: String(value),
        status: 'planned',
      })
      // The kernel changes a VF count only from 0 (sriov_numvfs_store: EBUSY otherwise).
      const steps = c.from > 0 && c.to > 0 ? [step(0), step(c.to)] : [step(c.to)]
      return [...steps, {bdf: c.bdf, action: 'verify', path: null, value: String(c.to), status: 'planned'}]
    }
    case 'hugepages':
      return c.from === c.to
        ? []
        : [
            {bdf: null, action: 'set-hugepages', path: c.path, value: String(c.to), status: 'planned'},
            {bdf: null, action: 'verify', path: null, value: String(c.to), status: 'planned'},
          ]
  }
}

/** The file a UUID is written to for a new mdev of a type (mdev_sysfs.c, create_store). */
export const mdevCreateFile = (parent: string, type: string) =>
  `${MDEV_BUS_CLASS}/${parent}/mdev_supported_types/${type}/create`

export const numVfsPath = (bdf: string) => `${PCI_DEVICES_DIR}/${bdf}/sriov_numvfs`

const POOL_PATH =
  /^\/sys\/(?:kernel\/mm|devices\/system\/node\/(node\d+))\/hugepages\/(hugepages-\d+kB)\/nr_hugepages$/

/** The nr_hugepages file of a pool (PoolName: hugepages-2048kB, node1/hugepages-2048kB). */
export const poolPath = (pool: PoolName) => {
  const [node, size] = pool.includes('/') ? pool.split('/') : [null, pool]
  return node
    ? `/sys/devices/system/node/${node}/hugepages/${size}/nr_hugepages`
    : `/sys/kernel/mm/hugepages/${size}/nr_hugepages`
}

/** The journal's name of the pool whose nr_hugepages file is `path` (the inverse of poolPath). */
export function poolName(path: string): PoolName {
  const m = POOL_PATH.exec(path)
  if (!m) throw new Error(`not a hugepage pool's nr_hugepages: ${path}`)
  return m[1] ? `${m[1]}/${m[2]}` : m[2]!
}

/** Every step of a plan, in the order a real run takes them: what a dry run prints. */
export const planSteps = (changes: Change[]): Step[] => changes.flatMap(stepsOf)

/** A step that failed; the transaction rolls back and reports. */
class StepError extends Error {
  constructor(readonly step: Step) {
    super(step.error)
  }
}

/**
 * Runs a plan of changes: for each change in order, the journal is written (what to give back,
 * pending with this pid), then its steps are taken and checked. When a step fails, every change
 * started (the failing one too) is put back in reverse order, the journal entries this run made
 * for what was put back go, and the error names the failed step and what was put back. The
 * steps taken (rollback included) are in `steps`, each reported to onStep as it finishes.
 */
export class Transaction {
  readonly steps: Step[] = []
  private saved: string

  constructor(
    private readonly host: HostOps,
    private readonly journal: JournalStore,
    private readonly command: JournalCommand,
    private readonly onStep: (step: Step) => void = () => {},
  ) {
    this.saved = JSON.stringify(journal.data)
  }

  run(changes: Change[]): void {
    const added = new Set<string>()
    const started: {change: Change; steps: Step[]}[] = []
    try {
      for (const planned of changes) {
        const change =
          planned.kind === 'device' && planned.live
            ? {...planned, from: this.host.driverState(planned.bdf)}
            : planned
        this.journalBefore(change, added)
        const steps = stepsOf(change)
        started.push({change, steps})
        for (const step of steps) this.take(change, step)
      }
    } catch (error) {
      if (!(error instanceof StepError)) throw error
      throw this.rollBack(started, added, error.step)
    }
    this.journalAfter(changes, added)
  }

  private take(change: Change, step: Step): void {
    this.steps.push(step)
    try {
      if (step.action === 'load-module') this.host.loadModule(step.value!)
      else if (step.action === 'verify') this.verify(change)
      else this.host.write(step.path!, step.value!)
      step.status = 'done'
    } catch (error) {
      step.status = 'failed'
      step.error = explain(change, step, error)
      const errno = errnoOf(error)
      if (errno) step.errno = errno
      this.onStep(step)
      throw new StepError(step)
    }
    this.onStep(step)
  }

  private verify(change: Change): void {
    if (change.kind === 'device') this.host.waitFor(change.bdf, change.to)
    else if (change.kind === 'group-type') {
      const now = this.host.groupType(change.group)
      // auto reads back as the type the kernel picked.
      if (change.to === 'auto' ? now === null : now !== change.to) {
        throw new Error(`the kernel accepted ${change.to} but group ${change.group} reads ${now}`)
      }
    } else if (change.kind === 'mdev-create' || change.kind === 'mdev-remove') {
      const want = change.kind === 'mdev-create'
      if (this.host.mdevPresent(change.uuid) !== want) {
        throw new Error(
          `the kernel accepted the write but ${MDEV_DEVICES_DIR}/${change.uuid} ${want ? 'is not there' : 'is still there'}`,
        )
      }
    } else if (change.kind === 'sriov') {
      const now = this.host.read(numVfsPath(change.bdf))
      if (now !== String(change.to))
        throw new Error(`the kernel accepted ${change.to} VFs but ${change.bdf} has ${now}`)
    } else if (change.kind === 'hugepages') {
      const now = this.host.read(change.path)
      // The kernel reserves what free memory allows and reports that, not an error.
      if (now !== String(change.to))
        throw new Error(
          `the kernel reserved ${now} of the ${change.to} hugepages asked in ${change.path} (not enough free contiguous memory)`,
        )
    }
  }

  /** Puts back every started change, last first; returns the error to throw. */
  private rollBack(
    started: {change: Change; steps: Step[]}[],
    added: Set<string>,
    failedStep: Step,
  ): IommuctlError {
    const restored: string[] = []
    const stuck: string[] = []
    for (const {change, steps} of [...started].reverse()) {
      const name = changeName(change)
      try {
        this.undo(change, steps)
      } catch (error) {
        if (!(error instanceof StepError)) throw error
        if (name) stuck.push(name)
        continue
      }
      let undid = false
      for (const s of steps) {
        if (s.status !== 'done') continue
        s.status = 'undone'
        undid = true
      }
      if (name && undid && !restored.includes(name) && !stuck.includes(name)) restored.push(name)
    }
    for (const {change} of started) {
      // What the journal holds of a change goes under its name (module loads: nothing).
      const key = changeName(change)
      if (!key) continue
      if (added.has(key) && !stuck.includes(key)) this.forget(change)
      else this.settle(change)
    }
    this.save()
    return changeFailed(this.command, failedStep, restored, stuck, this.steps)
  }

  /** Puts one change back, planned from where the host is now (the change may have stopped half-way). */
  private undo(change: Change, steps: Step[]): void {
    if (change.kind === 'device') {
      const back = {...change, from: this.host.driverState(change.bdf), to: change.from}
      for (const step of stepsOf(back)) this.take(back, step)
    } else if (change.kind === 'group-type') {
      const now = this.host.groupType(change.group)
      if (now === change.from) return
      const back = {...change, from: (now ?? change.to) as JournalDomainType, to: change.from}
      for (const step of stepsOf(back)) this.take(back, step)
    } else if (change.kind === 'sriov' || change.kind === 'hugepages') {
      const path = change.kind === 'sriov' ? numVfsPath(change.bdf) : change.path
      const now = Number(this.host.read(path) ?? change.to)
      const back = {...change, from: now, to: change.from}
      for (const step of stepsOf(back)) this.take(back, step)
    } else if (change.kind === 'mdev-create' || change.kind === 'mdev-remove') {
      // Back means absent after a create, present after a remove (the same UUID, type and parent);
      // only when the write went through: a create refused with EEXIST must not remove the mdev
      // that already had the UUID.
      const created = change.kind === 'mdev-create'
      if (steps[0]?.status !== 'done' || this.host.mdevPresent(change.uuid) !== created) return
      const back: Change = {...change, kind: created ? 'mdev-remove' : 'mdev-create'}
      for (const step of stepsOf(back)) this.take(back, step)
    }
  }

  /** Records, before a change, what to give back if the run dies during it. */
  private journalBefore(change: Change, added: Set<string>): void {
    const at = new Date().toISOString()
    const pendingPid = process.pid
    const d = this.journal.data
    if (change.kind === 'device') {
      const entry = d.devices[change.bdf]
      // A device already as asked is not touched: nothing to record.
      if (stepsOf(change).length === 0) return
      if (entry) entry.pendingPid = pendingPid
      else if (change.journal === 'give-back') return
      else {
        d.devices[change.bdf] = {...change.from, by: this.command, at, pendingPid}
        added.add(change.bdf)
      }
    } else if (change.kind === 'group-type') {
      const id = String(change.group)
      const entry = d.groups[id]
      if (entry) entry.pendingPid = pendingPid
      else {
        d.groups[id] = {type: change.from, by: this.command, at, pendingPid}
        added.add(`group ${id}`)
      }
    } else if (change.kind === 'mdev-create' || change.kind === 'mdev-remove') {
      const action = change.kind === 'mdev-create' ? 'create' : 'remove'
      d.mdevs = {
        ...d.mdevs,
        [change.uuid]: {action, parent: change.parent, type: change.type, by: this.command, at, pendingPid},
      }
      added.add(`mdev ${change.uuid}`)
    } else if (change.kind === 'sriov' || change.kind === 'hugepages') {
      const [section, key] = countEntry(change)
      const counts = d[section] ?? {}
      // An entry there already (a restore repairing a killed run) keeps the count to put back.
      const entry: JournalCount = counts[key] ?? {from: change.from, by: this.command, at, pendingPid}
      if (!counts[key]) added.add(changeName(change)!)
      d[section] = {...counts, [key]: {...entry, pendingPid}}
    }
    this.save()
  }

  /** Writes the journal when it changed. */
  private save(): void {
    const now = JSON.stringify(this.journal.data)
    if (now === this.saved) return
    this.journal.save()
    this.saved = now
  }

  /** After success: entries to keep are settled, the others go. */
  private journalAfter(changes: Change[], added: Set<string>): void {
    for (const change of changes) {
      if (change.kind === 'device') {
        const keep = change.journal === 'record' || (change.journal === 'transient' && !added.has(change.bdf))
        if (keep) this.settle(change)
        else this.forget(change)
      } else if (change.kind !== 'load-module') this.forget(change)
    }
    this.save()
  }

  private forget(change: Change): void {
    const d = this.journal.data
    if (change.kind === 'device') d.devices = without(d.devices, change.bdf)
    else if (change.kind === 'group-type') d.groups = without(d.groups, String(change.group))
    else if (change.kind === 'mdev-create' || change.kind === 'mdev-remove') {
      const mdevs = without(d.mdevs ?? {}, change.uuid)
      if (Object.keys(mdevs).length) d.mdevs = mdevs
      else delete d.mdevs
    } else if (change.kind === 'sriov' || change.kind === 'hugepages') {
      const [section, key] = countEntry(change)
      const counts = without(d[section] ?? {}, key)
      if (Object.keys(counts).length) d[section] = counts
      else if (section === 'vfs') delete d.vfs
      else delete d.hugepages
    }
  }

  /** No longer being changed by a live run (a group's entry keeps its pid: a dead one marks it interrupted). */
  private settle(change: Change): void {
    if (change.kind !== 'device') return
    const entry = this.journal.data.devices[change.bdf]
    if (entry) this.journal.data.devices[change.bdf] = {...entry, pendingPid: undefined}
  }
}

/** What the error's "put back" list (and `added`) calls a change; null for a module load. */
function changeName(c: Change): string | null {
  switch (c.kind) {
    case 'device':
      return c.bdf
    case 'group-type':
      return `group ${c.group}`
    case 'sriov':
      return `the VFs of ${c.bdf}`
    case 'hugepages':
      return c.path
    case 'mdev-create':
    case 'mdev-remove':
      return `mdev ${c.uuid}`
    default:
      return null
  }
}

/** Where in the journal a count's entry is: its section and key. */
const countEntry = (c: Change & {kind: 'sriov' | 'hugepages'}): ['vfs' | 'hugepages', string] =>
  c.kind === 'sriov' ? ['vfs', c.bdf] : ['hugepages', poolName(c.path)]

const without = <T>(record: Record<string, T>, key: string): Record<string, T> =>
  Object.fromEntries(Object.entries(record).filter(([k]) => k !== key))

function explain(change: Change, step: Step, error: unknown): string {
  if (step.action === 'verify' || step.action === 'load-module') return (error as Error).message
  if (change.kind === 'group-type') return explainTypeWrite(error, change.group, change.to)
  if (change.kind === 'device') return explainWrite(step, change.to, error)
  if (change.kind === 'mdev-create' || change.kind === 'mdev-remove') return explainMdevWrite(step, error)
  if (change.kind === 'sriov') return explainNumVfsWrite(error, change.bdf, step.value!)
  return `writing ${step.value} to ${step.path} failed (${errnoOf(error) ?? (error as Error).message})`
}

function changeFailed(
  command: string,
  step: Step,
  restored: string[],
  stuck: string[],
  steps: Step[],
): IommuctlError {
  const back = restored.length ? ` Put back as they were: ${restored.join(', ')}.` : ''
  const left = stuck.length
    ? ` Could not put back: ${stuck.join(', ')} (still in the journal: run \`iommuctl devices restore\`).`
    : ''
  return new IommuctlError(
    'CHANGE_FAILED',
    `${command} failed at ${step.action}${step.bdf ? ` of ${step.bdf}` : ''}: ${step.error}.${back}${left}`,
    {errno: step.errno, path: step.path ?? undefined, steps},
  )
}
