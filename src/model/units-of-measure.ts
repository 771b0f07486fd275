const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const
const SUFFIX: Record<string, number> = {'': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4}

/** 2097152 -> "2 MiB"; whole numbers where exact, one decimal otherwise. */
export function formatBytes(bytes: number): string {
  let value = bytes
  let i = 0
  while (value >= 1024 && i < UNITS.length - 1 && value % 1024 === 0) {
    value /= 1024
    i++
  }
  while (value >= 1024 && i < UNITS.length - 1) {
    value /= 1024
    i++
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${UNITS[i]}`
}

/** "16G", "512M", "1.5GiB", "4096" (bytes) -> bytes; null when it is not a size. */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(text.trim())
  if (!m) return null
  const bytes = Number(m[1]) * SUFFIX[m[2]!.toLowerCase()]!
  return Number.isFinite(bytes) && bytes > 0 ? Math.round(bytes) : null
}
