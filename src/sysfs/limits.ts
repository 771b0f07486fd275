/** The "Max locked memory" line of a /proc/PID/limits text, and its soft limit. */
export interface MemlockLimit {
  /** The line as the kernel wrote it; null when the text has none. */
  line: string | null
  /** The soft limit in bytes; null when unlimited or unknown (see line). */
  soft: bigint | null
  unlimited: boolean
}

/** Reads RLIMIT_MEMLOCK out of /proc/PID/limits (a table: name, soft, hard, units). */
export function parseMemlock(limits: string): MemlockLimit {
  const line = limits.split('\n').find((l) => l.startsWith('Max locked memory')) ?? null
  const soft = line?.slice('Max locked memory'.length).trim().split(/\s+/)[0]
  if (soft === 'unlimited') return {line, soft: null, unlimited: true}
  return {line, soft: soft && /^[0-9]+$/.test(soft) ? BigInt(soft) : null, unlimited: false}
}
