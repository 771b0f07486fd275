import {Errors} from '@oclif/core'

import type {Step} from './configure/mover.js'

/** Exit codes, documented in the README. oclif's own usage errors exit 2. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  unavailable: 3,
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

/** The errno name of a Node system error, if it is one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined
}

/** The record of any error: an IommuctlError's own fields, or FAILED (USAGE for exit 2) and its message. */
export function errorRecord(err: unknown): ErrorRecord {
  const e = err as Partial<IommuctlError> & {oclif?: {exit?: number}}
  const exit = e.oclif?.exit
  const exitCode: ErrorRecord['exitCode'] = exit === 2 || exit === 3 ? exit : 1
  return {
    code:
      typeof e.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e.code)
        ? e.code
        : exitCode === 2
          ? 'USAGE'
          : 'FAILED',
    message: e.message ?? String(err),
    exitCode,
    ...(e.errno ? {errno: e.errno} : {}),
    ...(e.path ? {path: e.path} : {}),
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
