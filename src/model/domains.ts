import {listGroups} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'
import type {EngineState} from '../session/engine.js'
import type {LiveDomains} from './live.js'

/** A group's default domain: the kernel's own, which DMA API drivers use. */
export interface DefaultDomain {
  group: number
  type: string | null
  devices: string[]
}

/** `iommuctl domains list --json` */
export interface DomainList {
  defaultDomains: DefaultDomain[]
  /** What each device is attached to now: debugfs where it can be read, else sysfs's answer. */
  live: LiveDomains
  /** The session's objects, when one is running. */
  session: {name: string; state: EngineState} | null
}

export function defaultDomains(root: Root): DefaultDomain[] {
  return listGroups(root).map((g) => ({group: g.id, type: g.type, devices: g.devices}))
}
