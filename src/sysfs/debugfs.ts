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
