// The IOMMU files of debugfs (/sys/kernel/debug/iommu), read through a Root so that --root and
// snapshots read like the live host. debugfs is root's only (mode 0700), often not mounted, and
// built only with CONFIG_IOMMU_DEBUGFS: each of those is an answer to give, not an error.

import {IommuctlError} from '../errors.js'
import {Root} from './root.js'

export const DEBUGFS_DIR = '/sys/kernel/debug'
export const INTEL_DEBUGFS_DIR = `${DEBUGFS_DIR}/iommu/intel`
export const AMD_DEBUGFS_DIR = `${DEBUGFS_DIR}/iommu/amd`

/** Why a debugfs file could not be read, or 'read'. */
export type DebugfsState = 'read' | 'absent' | 'not-mounted' | 'not-built' | 'not-root' | 'unreadable'

export interface DebugfsFile {
  path: string
  /** The file's text; null unless state is 'read'. */
  text: string | null
  state: DebugfsState
  /** What the state means and what to do; null when read. */
  note: string | null
}

/**
 * A file of debugfs under this root. When it is not there, says why in the user's terms: debugfs
 * not mounted, the kernel built without the IOMMU's debugfs, no permission, or (for a file of one
 * device) the file alone absent.
 */
export function readDebugfs(root: Root, hostPath: string): DebugfsFile {
  const at = (state: DebugfsState, note: string | null, text: string | null = null): DebugfsFile => ({
    path: hostPath,
    text,
    state,
    note,
  })
  try {
    const text = root.readText(hostPath)
    if (text !== null) return at('read', null, text)
    if (root.list(DEBUGFS_DIR).length === 0) {
      return root.isLive
        ? at(
            'not-mounted',
            `debugfs is not mounted at ${DEBUGFS_DIR} (as root: mount -t debugfs none ${DEBUGFS_DIR})`,
          )
        : at('not-mounted', `this root holds no ${DEBUGFS_DIR}: it was captured without debugfs`)
    }
    if (!root.isDirectory(`${DEBUGFS_DIR}/iommu`))
      return at('not-built', `no ${DEBUGFS_DIR}/iommu: the kernel is built without CONFIG_IOMMU_DEBUGFS`)
    const vendorDir = hostPath.split('/').slice(0, 6).join('/')
    if (!root.isDirectory(vendorDir)) {
      return at(
        'not-built',
        `no ${vendorDir}: the kernel is built without its unit's debugfs (CONFIG_INTEL_IOMMU_DEBUGFS, CONFIG_AMD_IOMMU_DEBUGFS)`,
      )
    }
    return at('absent', `${hostPath} does not exist`)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM')
      return at('not-root', `${hostPath} can be read by root only (debugfs is mode 0700): run as root`)
    if (error instanceof IommuctlError) return at('unreadable', error.message)
    return at('unreadable', `${hostPath} cannot be read: ${code ?? (error as Error).message}`)
  }
}

/**
 * A debugfs file that answers for a choice written first: AMD-Vi's devtbl prints the device
 * written to devid, a unit's mmio and capability files the register whose offset was written
 * to them. The choice is one that every reader shares, so another reader may change it between
 * a write and a read.
 */
export interface ChosenFile<T> {
  /** The file the choice is written to. */
  choose: string
  /** The file that answers (the same one for mmio and capability). */
  answer: string
  /** The choice `choose` holds now, from its text, to put back afterwards; null for none. */
  current(text: string): string | null
  /** The answer's text read, or why it holds none. */
  parse(text: string): T | {note: string}
  /** Whether an answer is the one for this choice (it names the device, the offset). */
  answers(value: T, choice: string): boolean
}

/** Tries at a choice before another reader's choosing is given as the reason. */
const CHOICE_TRIES = 3

/**
 * Writes a choice and reads the answer, kept only when it answers for that choice, up to
 * CHOICE_TRIES times; then writes back what was chosen before, for whoever chose it (they check
 * their answer too). Live host only: a snapshot has no kernel to answer.
 */
export function readChosen<T>(
  root: Root,
  file: ChosenFile<T>,
  choice: string,
): {value: T | null; note: string | null} {
  if (!root.isLive) return readCaptured(root, file, choice)
  const before = readDebugfs(root, file.choose)
  if (before.text === null) return {value: null, note: `not read from debugfs: ${before.note}`}
  const chosen = file.current(before.text)
  let note = `${file.answer} answered for another choice each of ${CHOICE_TRIES} times: another reader was choosing in ${file.choose}`
  try {
    for (let i = 0; i < CHOICE_TRIES; i++) {
      root.write(file.choose, `${choice}\n`)
      const text = readDebugfs(root, file.answer).text ?? ''
      const value = file.parse(text)
      if (typeof value === 'object' && value !== null && 'note' in value)
        return {value: null, note: value.note}
      if (file.answers(value, choice)) {
        recorder?.(chosenPath(file, choice), text)
        return {value, note: null}
      }
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    note =
      code === 'EACCES' || code === 'EPERM'
        ? `writing ${file.choose} needs root (debugfs is mode 0700): run as root`
        : `the kernel refused ${choice} in ${file.choose} (${code ?? (error as Error).message})`
  } finally {
    if (chosen !== null && chosen !== choice) {
      try {
        root.write(file.choose, `${chosen}\n`)
      } catch {
        // A courtesy: whoever chose it checks what the file answers, as this does.
      }
    }
  }
  return {value: null, note}
}

/**
 * Where a snapshot keeps what a chosen file answered for one choice: ANSWER.chosen/CHOICE (the
 * devtbl of 0000:00:03.0 at /sys/kernel/debug/iommu/amd/devtbl.chosen/0000:00:03.0). The kernel
 * has no such file; `snapshot --debugfs` writes it, so the offline view reads what the live one
 * read.
 */
export function chosenPath(file: ChosenFile<unknown>, choice: string): string {
  return `${file.answer}.chosen/${choice}`
}

/** Set while `snapshot --debugfs` records: every answer readChosen accepts, at its chosenPath. */
let recorder: ((hostPath: string, text: string) => void) | null = null

/** Runs fn, handing record each answer readChosen accepts (path, text), for a snapshot to keep. */
export function recordChosen<T>(fn: () => T, record: (hostPath: string, text: string) => void): T {
  recorder = record
  try {
    return fn()
  } finally {
    recorder = null
  }
}

/** Off the live host: the answer a snapshot kept for this choice, checked as a live one is. */
function readCaptured<T>(
  root: Root,
  file: ChosenFile<T>,
  choice: string,
): {value: T | null; note: string | null} {
  const kept = readDebugfs(root, chosenPath(file, choice))
  if (kept.text === null) {
    return {
      value: null,
      note:
        kept.state === 'absent'
          ? `${file.answer} answers for what is written to ${file.choose}, which only the live host can do, and this root kept no answer for ${choice} (snapshot --debugfs, as root, keeps them)`
          : `not read from debugfs: ${kept.note}`,
    }
  }
  const value = file.parse(kept.text)
  if (typeof value === 'object' && value !== null && 'note' in value) return {value: null, note: value.note}
  if (!file.answers(value, choice))
    return {value: null, note: `${chosenPath(file, choice)} does not answer for ${choice}: ignored`}
  return {value, note: null}
}
