import * as fs from 'node:fs'
import * as path from 'node:path'

import {errnoOf, ExitCode, IommuctlError} from '../errors.js'
import {isAlive, readPid} from '../pid.js'

/** Where the journal lives unless --journal-dir or IOMMUCTL_JOURNAL_DIR says otherwise. */
export const DEFAULT_JOURNAL_DIR = '/run/iommuctl'

/** What a device had before iommuctl first changed it: what `restore` gives back. */
export interface JournalDevice {
  driver: string | null
  driverOverride: string | null
  /** The command that first changed it. */
  by: string
  at: string
  /** Pid of the run that is changing it now; absent once that run finished (or rolled back). */
  pendingPid?: number
}

/** A group whose default domain type a run is changing: the type to put back if it dies. */
export interface JournalGroup {
  type: string
  by: string
  at: string
  pendingPid: number
}

export interface JournalData {
  format: 1
  devices: Record<string, JournalDevice>
  groups: Record<string, JournalGroup>
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

  /** Reads the journal without taking the lock (dry runs, listings). */
  load(): this {
    let text: string
    try {
      text = fs.readFileSync(this.file, 'utf8')
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return this
      throw journalError(`cannot read the journal ${this.file}`, error, this.file)
    }
    let parsed: JournalData
    try {
      parsed = JSON.parse(text) as JournalData
    } catch (error) {
      throw new IommuctlError(
        'BAD_JOURNAL',
        `The journal ${this.file} is not JSON: ${(error as Error).message}`,
        {
          path: this.file,
          suggestion: 'Move it aside and put devices back by hand; iommuctl will not guess.',
        },
      )
    }
    if (parsed?.format !== 1 || typeof parsed.devices !== 'object' || typeof parsed.groups !== 'object') {
      throw new IommuctlError('BAD_JOURNAL', `The journal ${this.file} is not a format 1 iommuctl journal.`, {
        path: this.file,
      })
    }
    this.data = parsed
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
        return this.load()
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
    const fd = fs.openSync(tmp, 'w', 0o600)
    try {
      fs.writeSync(fd, JSON.stringify(this.data, null, 2) + '\n')
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, this.file)
  }

  /** Drops a device's entry: it is back as recorded, or it stays as it is now for good. */
  forget(bdf: string): void {
    this.data.devices = Object.fromEntries(Object.entries(this.data.devices).filter(([b]) => b !== bdf))
  }

  forgetGroup(id: string | number): void {
    this.data.groups = Object.fromEntries(Object.entries(this.data.groups).filter(([g]) => g !== String(id)))
  }

  /** Marks a device's entry as no longer being changed by a live run. */
  settle(bdf: string): void {
    const entry = this.data.devices[bdf]
    if (entry) this.data.devices[bdf] = {...entry, pendingPid: undefined}
  }

  /** Devices a run that is no longer alive left half-changed. */
  interrupted(): string[] {
    return Object.entries(this.data.devices)
      .filter(([, d]) => d.pendingPid !== undefined && d.pendingPid !== process.pid && !isAlive(d.pendingPid))
      .map(([bdf]) => bdf)
  }

  interruptedGroups(): string[] {
    return Object.entries(this.data.groups)
      .filter(([, g]) => g.pendingPid !== process.pid && !isAlive(g.pendingPid))
      .map(([id]) => id)
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
