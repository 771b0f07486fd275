// --follow for a session's queues: read, print what came, wait a quarter second when nothing
// did, until SIGINT or SIGTERM. Reads never block in the daemon (other clients are served
// between them), so the wait is here.
import type {EventRecord, FaultRecord} from './engine.js'

/** How long --follow waits after a read that found nothing. */
export const FOLLOW_INTERVAL_MS = 250

/** Reads until interrupted, handing each record to `emit` in order. A refused read ends it (thrown). */
export async function followQueue<R>(read: () => Promise<R[]>, emit: (r: R) => void): Promise<void> {
  let stopped = false
  let wake: (() => void) | null = null
  const stop = () => {
    stopped = true
    wake?.()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    while (!stopped) {
      const got = await read()
      for (const r of got) emit(r)
      if (got.length || stopped) continue
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, FOLLOW_INTERVAL_MS)
      })
      wake = null
    }
  } finally {
    process.removeListener('SIGINT', stop)
    process.removeListener('SIGTERM', stop)
  }
}

/**
 * What `domains faults` and `domains events` print: with `follow`, every record as it comes
 * until interrupted (returning none: they went out already); else one read's records, a line
 * each, or `empty` when there are none. With --json each line is the record's JSON, and a single
 * read prints nothing here (the command returns it).
 */
export async function printQueue<R>(
  out: {jsonEnabled(): boolean; log(line: string): void},
  follow: boolean,
  read: () => Promise<R[]>,
  render: (r: R) => string,
  empty: string,
): Promise<R[]> {
  const line = (r: R) => process.stdout.write((out.jsonEnabled() ? JSON.stringify(r) : render(r)) + '\n')
  if (follow) {
    await followQueue(read, line)
    return []
  }
  const records = await read()
  if (!out.jsonEnabled()) {
    for (const r of records) line(r)
    if (!records.length) out.log(empty)
  }
  return records
}

/** One page request, in a line: "dev 3 (0000:00:03.0) pasid 5 grp 1 read,write 0x1000 cookie 7 last, answered success". */
export function renderFaultRecord(r: FaultRecord): string {
  return [
    `dev ${r.devId}${r.device ? ` (${r.device})` : ''}`,
    r.pasid === null ? 'no pasid' : `pasid ${r.pasid}`,
    `grp ${r.grpid}`,
    r.perm.join(',') || 'no access',
    r.addr,
    r.length ? `${r.length} bytes` : null,
    `cookie ${r.cookie}${r.lastPage ? ' last' : ''}${r.response ? `, answered ${r.response}` : ''}`,
  ]
    .filter(Boolean)
    .join(' ')
}

/** One vEVENT, in a line: "seq 4 (2 lost before) 99000000" or "seq 9 lost events (3)". */
export function renderEventRecord(r: EventRecord): string {
  if (r.lostEvents) return `seq ${r.sequence} lost events (${r.lost})`
  return `seq ${r.sequence}${r.lost ? ` (${r.lost} lost before)` : ''} ${r.data}`
}
