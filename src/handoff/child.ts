// Supervising a child that inherits descriptors at fixed numbers: `exec`, `fds receive` and
// `apply --exec` start their command here. spawn's stdio array does the placing.
import {ChildProcess, spawn} from 'node:child_process'
import {constants} from 'node:os'

import {IommuctlError} from '../errors.js'

/** The first descriptor number a child is handed: the iommufd; devices follow at 4, 5, ... */
export const FIRST_HANDOFF_FD = 3

/** How the child ended. */
export interface ChildExit {
  pid: number
  /** Its exit code; null when a signal ended it. */
  code: number | null
  /** The signal that ended it (SIGKILL), or null. */
  signal: string | null
  /** What iommuctl exits with: the code, or 128 + the signal's number, as a shell reports it. */
  status: number
}

/** A shell's status for a process: its exit code, or 128 + N for signal N (the kernel's numbers). */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code
  const n = signal ? (constants.signals as Record<string, number>)[signal] : undefined
  return 128 + (n ?? 0)
}

/** The signals a supervisor passes on: a VMM must hear them to shut its guest down. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

export interface ChildOptions {
  /** Descriptors in this process, placed in the child at 3, 4, ... in this order. */
  fds: readonly number[]
  env: NodeJS.ProcessEnv
  /** Called once the child runs, with its pid. */
  onStart?: (pid: number) => void
}

/**
 * Starts argv with `fds` at 3, 4, ...: spawn's stdio array dup2()s each one to its index, and
 * every other descriptor of this process is close-on-exec (Node's own and those iommuctl opens
 * are; any it inherited are made so first), so the child holds stdin, stdout, stderr and
 * these, nothing else. SIGINT, SIGTERM and
 * SIGHUP sent to iommuctl are passed on (a terminal's Ctrl-C reaches both: the child is in the
 * same process group, so that it can read the terminal). Resolves when the child exits.
 */
export async function runChild(argv: readonly string[], opts: ChildOptions): Promise<ChildExit> {
  // Loaded here, not at the top: exec's refusals and --print-args never load ffi-rs.
  const {closeOnExecAllBut} = await import('../native/socket.js')
  closeOnExecAllBut(opts.fds)
  return new Promise((resolve, reject) => {
    let child: ChildProcess
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        stdio: ['inherit', 'inherit', 'inherit', ...opts.fds],
        env: opts.env,
      })
    } catch (error) {
      reject(cannotRun(argv[0]!, error as Error))
      return
    }
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal)
    }
    for (const s of FORWARDED_SIGNALS) process.on(s, forward)
    const stop = () => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward)
    }
    child.once('spawn', () => opts.onStart?.(child.pid!))
    child.once('error', (error) => {
      stop()
      reject(cannotRun(argv[0]!, error))
    })
    child.once('exit', (code, signal) => {
      stop()
      resolve({pid: child.pid!, code, signal, status: exitStatus(code, signal)})
    })
  })
}

function cannotRun(command: string, error: Error): IommuctlError {
  return new IommuctlError('EXEC_FAILED', `Cannot run ${command}: ${error.message}.`, {
    errno: (error as NodeJS.ErrnoException).code?.match(/^E[A-Z0-9]+$/)?.[0],
    suggestion: 'Check the command after -- (is it installed, on PATH, executable?).',
  })
}
