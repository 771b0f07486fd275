import {Bdf} from './records.js'

/**
 * One write to sysfs (or one check of its result) of a change, as planned and as it went. Kept
 * apart from the configure layer so that errors (which carry a failed change's steps) and
 * renderers need not depend on it.
 */
export interface Step {
  /** The device it is about (a PF for its VF count); null for a module load, a group's type, hugepages or an mdev (its UUID is the value). */
  bdf: Bdf | null
  action:
    | 'load-module'
    | 'set-override'
    | 'unbind'
    | 'probe'
    | 'bind'
    | 'set-type'
    | 'create-mdev'
    | 'remove-mdev'
    | 'set-numvfs'
    | 'set-hugepages'
    | 'verify'
  /** The sysfs file written; null for a check or a module load. */
  path: string | null
  value: string | null
  status: 'planned' | 'done' | 'failed' | 'undone'
  /** Why it failed, in plain words. */
  error?: string
  /** @pattern ^E[A-Z0-9]+$ */
  errno?: string
}
