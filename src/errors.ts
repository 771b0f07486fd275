import {Errors} from '@oclif/core'

import type {Step} from './step.js'

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
