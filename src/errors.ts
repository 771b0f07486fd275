import {Errors} from '@oclif/core'
import * as util from 'node:util'

import type {Step} from './step.js'

/** Exit codes, documented in the README. oclif's own usage errors exit 2. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  unavailable: 3,
  /** `host status`: the host differs from its config. */
  drift: 4,
} as const

export interface ErrorDetails {
  /** Exit status; failure unless said otherwise. */
  exit?: number
  /** The errno name (EACCES, ENOTTY, ...) when a system call failed. */
  errno?: string
  /** The file the failure is about. */
  path?: string
  /** What the user can do about it. */
  suggestion?: string
  /** For a change that failed: its steps, done, failed and undone. */
  steps?: Step[]
}

/** One error, as every command prints it under --json and as the session daemon answers with it. */
export interface ErrorRecord {
  /**
   * Stable machine-readable reason, e.g. BAD_ROOT.
   * @pattern ^[A-Z][A-Z0-9_]*$
   */
  code: string
  message: string
  /** 1 failure, 2 usage error, 3 not available on this host. */
  exitCode: 1 | 2 | 3
  /** @pattern ^E[A-Z0-9]+$ */
  errno?: string
  path?: string
  suggestion?: string
  /** For a change that failed: every step taken, the failed one, and those undone by the rollback. */
  steps?: Step[]
}

/** An error with a stable machine-readable code, printed as {"error": {...}} under --json. */
export class IommuctlError extends Errors.CLIError {
  readonly errno?: string
  readonly path?: string
  readonly steps?: Step[]

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, {
      code,
      exit: details.exit ?? ExitCode.failure,
      suggestions: details.suggestion ? [details.suggestion] : undefined,
    })
    this.errno = details.errno
    this.path = details.path
    this.steps = details.steps
  }
}

/** An errno name as schemas/error.json has it. */
const ERRNO_NAME = /^E[A-Z0-9]+$/

/**
 * The errno name (ENOENT, EACCES) of a failure, if a system call's: an IommuctlError's own, or a
 * Node system error's code, or the name of its numeric errno when its code is something else.
 */
export function errnoOf(err: unknown): string | undefined {
  if (err instanceof IommuctlError) return err.errno
  const e = err as NodeJS.ErrnoException | null
  if (typeof e?.code === 'string' && ERRNO_NAME.test(e.code)) return e.code
  if (typeof e?.errno === 'number' && Number.isInteger(e.errno) && e.errno !== 0) {
    try {
      // libuv's errno numbers are negative; getSystemErrorName throws for positive ones.
      const name = util.getSystemErrorName(-Math.abs(e.errno))
      if (ERRNO_NAME.test(name)) return name
    } catch {
      return undefined
    }
  }
  return undefined
}

/** The record of any error: an IommuctlError's own fields, or FAILED (USAGE for exit 2) and its message. */
export function errorRecord(err: unknown): ErrorRecord {
  const e = err as Partial<IommuctlError> & {oclif?: {exit?: number}}
  const exit = e.oclif?.exit
  const exitCode: ErrorRecord['exitCode'] = exit === 2 || exit === 3 ? exit : 1
  // A raw Node error's numeric errno is given as its name, as schemas/error.json has it.
  const errno = errnoOf(err)
  return {
    code:
      typeof e.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e.code)
        ? e.code
        : exitCode === 2
          ? 'USAGE'
          : 'FAILED',
    message: typeof e.message === 'string' ? e.message : String(err),
    exitCode,
    ...(errno ? {errno} : {}),
    ...(typeof e.path === 'string' ? {path: e.path} : {}),
    ...(e.suggestions?.[0] ? {suggestion: e.suggestions[0]} : {}),
    ...(e.steps ? {steps: e.steps} : {}),
  }
}

/** An error record received from another process (the session daemon), thrown again as it was. */
export function fromRecord(r: ErrorRecord): IommuctlError {
  return new IommuctlError(r.code, r.message, {
    exit: r.exitCode,
    errno: r.errno,
    path: r.path,
    suggestion: r.suggestion,
    steps: r.steps,
  })
}
