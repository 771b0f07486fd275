import type {EngineState, SessionObject} from '../session/engine.js'
import {bold, table} from './style.js'

/** What the parent of an object is, in words: "ioas 1", "nest-parent hwpt 3", "viommu 4". */
export function parentOf(o: SessionObject): string | null {
  if (o.parent === null) return null
  if (o.kind === 'hwpt') return o.type === null ? `ioas ${o.parent}` : `parent ${o.parent}`
  if (o.kind === 'viommu') return `nest-parent hwpt ${o.parent}`
  if (o.kind === 'vdevice' || o.kind === 'veventq') return `viommu ${o.parent}`
  return String(o.parent)
}

/** One line about an object, its kind's essentials. */
function detailOf(o: SessionObject): string {
  switch (o.kind) {
    case 'device':
      return [
        o.attachedTo !== null ? `attached to ${o.attachedTo}` : 'not attached',
        ...o.pasids.map((p) => `PASID ${p.pasid} on ${p.pt}`),
      ].join(', ')
    case 'hwpt': {
      const nested = o.type === null ? '' : `nested (${o.type}) `
      const faults = o.faultQueue === null ? '' : `, faults to ${o.faultQueue}`
      return `${nested}on ${parentOf(o)} for ${o.bdf}${o.flags.length ? `, ${o.flags.join(' ')}` : ''}${faults}`
    }
    case 'fault-queue':
      return `fd ${o.fd}`
    case 'veventq':
      return `${o.type} on ${parentOf(o)}, depth ${o.depth}, fd ${o.fd}`
    case 'viommu':
      return `${o.type} on ${parentOf(o)} for ${o.bdf}`
    case 'vdevice':
      return `${o.bdf} as ${o.virtId} on ${parentOf(o)}`
    case 'ioas':
      return (
        o.mappings.map((m) => `${m.iova}+${m.length} ${m.memory}${m.writable ? '' : ' ro'}`).join(', ') ||
        'nothing mapped'
      )
  }
}

/** The objects of a session or an applied plan, as a table. */
export function renderState(state: EngineState): string {
  const rows = state.objects.map((o) => [o.id, o.kind, o.name ?? o.bdf, detailOf(o)])
  const pinned = `pinned ${state.pinnedBytes} bytes${state.maxPinnedBytes === null ? '' : ` of at most ${state.maxPinnedBytes}`}`
  return `${table(['ID', 'KIND', 'NAME', 'DETAIL'], rows)}\n${bold('iommufd')} fd ${state.iommufd}, ${pinned}`
}
