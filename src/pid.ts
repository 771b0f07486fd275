import * as fs from 'node:fs'

import {errnoOf} from './errors.js'

/** Whether a process exists (one we may not signal, EPERM, exists too). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return errnoOf(error) === 'EPERM'
  }
}

/** The pid a pid or lock file names, or null when there is none. */
export function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}
