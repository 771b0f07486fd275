import type {EngineState} from '../session/engine.js'
import {bold, table} from './style.js'

/** The objects of a session or an applied plan, as a table. */
export function renderState(state: EngineState): string {
  const rows = state.objects.map((o) => {
    const detail =
      o.kind === 'device'
        ? [
            o.attachedTo !== null ? `attached to ${o.attachedTo}` : 'not attached',
            ...o.pasids.map((p) => `PASID ${p.pasid} on ${p.pt}`),
          ].join(', ')
        : o.kind === 'hwpt'
          ? `on ioas ${o.parent} for ${o.bdf}${o.flags.length ? `, ${o.flags.join(' ')}` : ''}`
          : o.mappings.map((m) => `${m.iova}+${m.length} ${m.memory}${m.writable ? '' : ' ro'}`).join(', ') ||
            'nothing mapped'
    return [o.id, o.kind, o.name ?? o.bdf, detail]
  })
  const pinned = `pinned ${state.pinnedBytes} bytes${state.maxPinnedBytes === null ? '' : ` of at most ${state.maxPinnedBytes}`}`
  return `${table(['ID', 'KIND', 'NAME', 'DETAIL'], rows)}\n${bold('iommufd')} fd ${state.iommufd}, ${pinned}`
}
