import {Errors} from '@oclif/core'
import * as util from 'node:util'

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
