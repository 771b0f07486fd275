import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

/** How a user or a terminal stops a run: each removes the temporary directories first. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/** A private directory that is removed when its owner is done, or when the process ends. */
export interface TempDir {
  readonly path: string
  /** Removes the directory and everything in it; never throws. */
  remove(): void
}

const live = new Set<string>()
let installed = false

/**
 * Makes a directory only its owner can enter (mkdtemp's 0700) under parent (TMPDIR by
 * default), removed on remove(), at exit, or on SIGINT, SIGTERM or SIGHUP. A signal
 * nobody else handles then ends the process as it would have (the shell sees 128+N); where
 * another part of the program handles it (the session daemon tears down on SIGTERM), that
 * part decides, and the directories go at its exit.
 */
export function makeTempDir(prefix: string, parent: string = os.tmpdir()): TempDir {
  install()
  const dir = fs.mkdtempSync(path.join(parent, prefix))
  live.add(dir)
  return {
    path: dir,
    remove: () => {
      live.delete(dir)
      removeQuietly(dir)
    },
  }
}

/**
 * Lets a stop signal that came during synchronous work be handled before the caller reports
 * success. While a temporary directory is live, SIGINT, SIGTERM and SIGHUP have a listener here,
 * so the kernel's signal only queues an event that the event loop reads in its poll phase; work
 * that never yields (a --dir snapshot is written with sync calls) would otherwise finish, print
 * its report and exit 0 with the signal never handled. A short timer parks the loop in the poll
 * phase, where the signal ends the process (by that signal, the output whole or absent).
 * setImmediate alone did not: the run exited 0.
 */
export async function settleSignals(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
}

const SETTLE_MS = 5

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', removeAll)
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal)
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return
  removeAll()
  for (const s of STOP_SIGNALS) process.removeListener(s, onSignal)
  // With no listener left the signal has its default action again: the process ends by it.
  process.kill(process.pid, signal)
}

function removeAll(): void {
  for (const dir of live) removeQuietly(dir)
  live.clear()
}

/** Cleanup never throws: a directory already gone, or one that cannot be removed, is left in place. */
function removeQuietly(dir: string): void {
  try {
    fs.rmSync(dir, {recursive: true, force: true})
  } catch {
    // Nothing better to do at exit than leave it.
  }
}
