import {Holder, scanHolders} from '../sysfs/holders.js'
import {Root} from '../sysfs/root.js'

/** `devices show` and `groups show`: who has the device's VFIO nodes open. */
export interface DeviceHolders {
  /** Whether this could be found out: on the live host only (a snapshot holds no descriptors). */
  known: boolean
  /** The processes (pid and command) with the cdev, the group node or a sysfs file of the device open. */
  holders: Holder[]
  /** Why the answer is unknown or may be incomplete; null when it is complete. */
  note: string | null
}

/** The processes holding any of nodes (or a file under dirs) open; unknown under a --root. */
export function deviceHolders(root: Root, nodes: string[], dirs: string[] = []): DeviceHolders {
  if (!root.isLive) {
    return {
      known: false,
      holders: [],
      note: "unknown: open descriptors are the live host's, and a snapshot does not record them",
    }
  }
  const scan = scanHolders(nodes, dirs)
  const notes = [
    scan.denied
      ? `${scan.denied} process${scan.denied > 1 ? 'es' : ''} could not be looked into (run as root to see every holder)`
      : '',
    scan.truncated ? 'the scan stopped at its bound on processes or descriptors' : '',
  ].filter(Boolean)
  return {known: true, holders: scan.holders, note: notes.join('; ') || null}
}

/** "pid 123 (qemu) holds /dev/vfio/devices/vfio0; ..." for messages. */
export function describeHolders(holders: Holder[]): string {
  return holders.map((h) => `pid ${h.pid} (${h.command}) holds ${h.path}`).join('; ')
}
