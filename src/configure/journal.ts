import type {ErrorObject} from 'ajv'
import * as fs from 'node:fs'
import * as path from 'node:path'

import {errnoOf, ExitCode, IommuctlError} from '../errors.js'
import {isAlive, readPid} from '../pid.js'
import {Bdf, MdevName, MdevUuid} from '../records.js'
import {schemaValidators} from '../schema.js'

/** Where the journal lives unless --journal-dir or IOMMUCTL_JOURNAL_DIR says otherwise. */
export const DEFAULT_JOURNAL_DIR = '/run/iommuctl'

/** The largest journal read: one entry per device is a few hundred bytes. */
const MAX_JOURNAL_BYTES = 1 << 20

/**
 * A PCI driver or module name, as --driver accepts it (DRIVER_PATTERN in drivers.ts).
 * @pattern ^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$
 */
export type DriverName = string

/**
 * An IOMMU group's number as its directory is named: canonical decimal.
 * @pattern ^(0|[1-9][0-9]{0,9})$
 */
export type GroupId = string

/**
 * A default domain type a group is put back to: what `groups set-type` writes (DOMAIN_TYPES).
 */
export type JournalDomainType = 'DMA' | 'DMA-FQ' | 'identity' | 'auto'

/** The commands that journal changes. */
export type JournalCommand =
  'bind' | 'unbind' | 'restore' | 'set-type' | 'mdev-create' | 'mdev-remove' | 'host-apply'

/**
 * When an entry was made (ISO 8601, as Date.toISOString writes it); only ever printed.
 * @maxLength 64
 */
export type JournalTime = string

/**
 * A process id.
 * @asType integer
 * @minimum 1
 * @maximum 4194304
 */
export type Pid = number

/** What a device had before iommuctl first changed it: what `restore` gives back. */
export interface JournalDevice {
  driver: DriverName | null
  driverOverride: DriverName | null
  /** The command that first changed it. */
  by: JournalCommand
  at: JournalTime
  /** Pid of the run that is changing it now; absent once that run finished (or rolled back). */
  pendingPid?: Pid
}

/** A group whose default domain type a run is changing: the type to put back if it dies. */
export interface JournalGroup {
  type: JournalDomainType
  by: JournalCommand
  at: JournalTime
  pendingPid: Pid
}

/**
 * A mediated device a run is creating or removing: mdevs last one boot (as mdevctl's transient
 * ones), so there is nothing to give back once the run is over; while it runs, the entry says
 * what a run that died left half-done.
 */
export interface JournalMdev {
  action: 'create' | 'remove'
  parent: MdevName
  type: MdevName
  by: JournalCommand
  at: JournalTime
  pendingPid: Pid
}

/**
 * A hugepage pool as the journal names it: its size's directory, under a NUMA node's or not
 * (poolPath in transaction.ts makes the nr_hugepages path of it).
 * @pattern ^(node(0|[1-9][0-9]{0,3})/)?hugepages-[1-9][0-9]{0,9}kB$
 */
export type PoolName = string

/**
 * A VF count or a number of hugepages.
 * @asType integer
 * @minimum 0
 * @maximum 1099511627776
 */
export type Count = number

/**
 * A PF's VF count or a hugepage pool's size a run is changing: what to put back if it dies. VFs
 * and pools last one boot, so a run that finished (or rolled back) leaves no entry.
 */
export interface JournalCount {
  from: Count
  by: JournalCommand
  at: JournalTime
  pendingPid: Pid
}

/**
 * The journal file (schemas/journal.json). Its keys and values become sysfs paths and the
 * values written to them, so it is checked as strictly as command-line input when read.
 */
export interface JournalData {
  format: 1
  devices: Record<Bdf, JournalDevice>
  groups: Record<GroupId, JournalGroup>
  /** Absent in journals written before mdevs were journalled. */
  mdevs?: Record<MdevUuid, JournalMdev>
  /** VF counts (sriov_numvfs) by PF; absent when none is being changed. */
  vfs?: Record<Bdf, JournalCount>
  /** Hugepage pools' sizes (nr_hugepages); absent when none is being changed. */
  hugepages?: Record<PoolName, JournalCount>
}

/**
 * The record of every change iommuctl made to drivers and group types, kept so that `restore`
 * can undo it: written (to a temporary file, fsynced, renamed over the old one) before each
 * change, so that a run killed at any point leaves a journal that describes the host. One run
 * at a time holds its lock.
 */
export class Journal {
  readonly file: string
  private readonly lockFile: string
  data: JournalData = {format: 1, devices: {}, groups: {}}
  private locked = false

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'journal.json')
    this.lockFile = path.join(dir, 'lock')
  }

  /**
   * Reads the journal without taking the lock (dry runs, listings). It is refused, naming the
   * field, unless it is a regular file (not followed through a symlink) of at most 1 MiB that
   * matches schemas/journal.json.
   */
  load(): this {
    let text: string
    try {
      text = readCapped(this.file)
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return this
      if (error instanceof IommuctlError) throw error
      throw journalError(`cannot read the journal ${this.file}`, error, this.file)
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw badJournal(this.file, `is not JSON: ${(error as Error).message}`)
    }
    if ((parsed as {format?: unknown} | null)?.format !== 1) {
      throw badJournal(this.file, 'is not a format 1 iommuctl journal.')
    }
    const e = schemaValidators('journal').whole(parsed)
    if (e) throw badJournal(this.file, `is not valid: ${describe(e)}.`)
    this.data = parsed as JournalData
    return this
  }

  /** Takes the lock (a lock file naming our pid; a dead holder's lock is taken over), then loads. */
  lock(): this {
    try {
      fs.mkdirSync(this.dir, {recursive: true, mode: 0o700})
    } catch (error) {
      throw journalError(`cannot create the journal directory ${this.dir}`, error, this.dir)
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.writeFileSync(this.lockFile, `${process.pid}\n`, {flag: 'wx', mode: 0o600})
        this.locked = true
        break
      } catch (error) {
        if (errnoOf(error) !== 'EEXIST')
          throw journalError(`cannot lock ${this.lockFile}`, error, this.lockFile)
      }
      const holder = readPid(this.lockFile)
      if (holder !== null && holder !== process.pid && isAlive(holder)) {
        throw new IommuctlError(
          'JOURNAL_LOCKED',
          `Another iommuctl (pid ${holder}) is changing devices now.`,
          {
            path: this.lockFile,
            suggestion: 'Wait for it to finish, then run this again.',
          },
        )
      }
      fs.rmSync(this.lockFile, {force: true})
    }
    if (this.locked) {
      try {
        return this.load()
      } catch (error) {
        this.unlock()
        throw error
      }
    }
    throw new IommuctlError('JOURNAL_LOCKED', `Cannot take the lock ${this.lockFile}.`, {path: this.lockFile})
  }

  unlock(): void {
    if (!this.locked) return
    this.locked = false
    fs.rmSync(this.lockFile, {force: true})
  }

  /** Writes the journal atomically: a reader (or a run after a crash) sees the old or the new one whole. */
  save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.rmSync(tmp, {force: true})
    const {O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW} = fs.constants
    const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
    try {
      fs.writeSync(fd, JSON.stringify(this.data, null, 2) + '\n')
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, this.file)
  }

  /** Devices a run that is no longer alive left half-changed. */
  interrupted(): string[] {
    return Object.entries(this.data.devices)
      .filter(([, d]) => d.pendingPid !== undefined && d.pendingPid !== process.pid && !isAlive(d.pendingPid))
      .map(([bdf]) => bdf)
  }

  /** Mdevs whose create or remove a run that is no longer alive left half-done. */
  interruptedMdevs(): string[] {
    return Object.entries(this.data.mdevs ?? {})
      .filter(([, m]) => m.pendingPid !== process.pid && !isAlive(m.pendingPid))
      .map(([uuid]) => uuid)
  }

  interruptedGroups(): string[] {
    return Object.entries(this.data.groups)
      .filter(([, g]) => g.pendingPid !== process.pid && !isAlive(g.pendingPid))
      .map(([id]) => id)
  }

  /** VF counts and hugepage pools a run that is no longer alive left half-changed, in words. */
  interruptedCounts(): string[] {
    const dead = (c: JournalCount) => c.pendingPid !== process.pid && !isAlive(c.pendingPid)
    return [
      ...Object.entries(this.data.vfs ?? {})
        .filter(([, c]) => dead(c))
        .map(([bdf]) => `the VF count of ${bdf}`),
      ...Object.entries(this.data.hugepages ?? {})
        .filter(([, c]) => dead(c))
        .map(([pool]) => `the hugepage pool ${pool}`),
    ]
  }
}

function journalError(what: string, error: unknown, file: string): IommuctlError {
  const errno = errnoOf(error)
  const denied = errno === 'EACCES' || errno === 'EPERM'
  return new IommuctlError(
    denied ? 'PERMISSION' : 'JOURNAL',
    `${what[0]!.toUpperCase()}${what.slice(1)}: ${(error as Error).message}`,
    {
      errno,
      path: file,
      exit: ExitCode.failure,
      suggestion: denied
        ? 'Changing drivers needs root: run it with sudo.'
        : 'Give a writable directory with --journal-dir.',
    },
  )
}

/** The file's text: a regular file, not a symlink, FIFO or device, of at most MAX_JOURNAL_BYTES. */
function readCapped(file: string): string {
  const {O_RDONLY, O_NOFOLLOW, O_NONBLOCK} = fs.constants
  let fd: number
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
  } catch (error) {
    if (errnoOf(error) === 'ELOOP')
      throw badJournal(file, 'is a symbolic link; iommuctl reads only its own file.')
    throw error
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) throw badJournal(file, 'is not a regular file.')
    if (st.size > MAX_JOURNAL_BYTES)
      throw badJournal(file, `is ${st.size} bytes, more than a journal ever is (1 MiB).`)
    const buf = Buffer.alloc(MAX_JOURNAL_BYTES + 1)
    let n = 0
    for (let r; n < buf.length && (r = fs.readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r
    if (n > MAX_JOURNAL_BYTES) throw badJournal(file, 'is more than 1 MiB, more than a journal ever is.')
    return buf.subarray(0, n).toString('utf8')
  } finally {
    fs.closeSync(fd)
  }
}

function badJournal(file: string, what: string): IommuctlError {
  return new IommuctlError('BAD_JOURNAL', `The journal ${file} ${what}`, {
    path: file,
    suggestion: 'Move it aside and put devices back by hand; iommuctl will not guess.',
  })
}

/** What a journal field is, in words, by the schema definition it failed. */
const WHAT: Record<string, string> = {
  Bdf: 'not a BDF (dddd:bb:dd.f)',
  MdevUuid: 'not an mdev UUID',
  MdevName: 'not an mdev parent or type name',
  GroupId: 'not a group id (a decimal number)',
  PoolName: 'not a hugepage pool (hugepages-SIZEkB, or nodeN/hugepages-SIZEkB)',
  Count: 'not a count (a whole number)',
  DriverName: 'not a driver name',
  JournalDomainType: 'not a default domain type (DMA, DMA-FQ, identity or auto)',
  JournalCommand: 'not an iommuctl command that journals changes',
  JournalTime: 'longer than a time',
  Pid: 'not a process id',
}

/** One schema error as `devices["../x"]: not a BDF`. */
function describe(e: ErrorObject): string {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  const name = (e as ErrorObject & {propertyName?: string}).propertyName
  if (name !== undefined) parts.push(name)
  const field = parts
    .map((p, i) =>
      i === 0
        ? p
        : /^[A-Za-z_]\w*$/.test(p) &&
            !['devices', 'groups', 'mdevs', 'vfs', 'hugepages'].includes(parts[i - 1]!)
          ? `.${p}`
          : `[${JSON.stringify(p)}]`,
    )
    .join('')
  // Key patterns are inlined under propertyNames; values are checked through their definitions.
  const def =
    name !== undefined
      ? {devices: 'Bdf', groups: 'GroupId', mdevs: 'MdevUuid', vfs: 'Bdf', hugepages: 'PoolName'}[parts[0]!]
      : /#\/definitions\/([^/]+)\//.exec(e.schemaPath)?.[1]
  const why =
    e.keyword === 'additionalProperties'
      ? `unknown field ${JSON.stringify(e.params.additionalProperty)}`
      : e.keyword === 'required'
        ? `missing ${JSON.stringify(e.params.missingProperty)}`
        : ((def && WHAT[def]) ?? e.message ?? 'invalid')
  return `${field || '(the top level)'}: ${why}`
}
