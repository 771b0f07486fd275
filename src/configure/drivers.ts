import {spawnSync} from 'node:child_process'
import * as os from 'node:os'

import {ExitCode, IommuctlError} from '../errors.js'
import {Root} from '../sysfs/root.js'
import {isVfioDriver} from '../vfio/driver.js'

export const PCI_DRIVERS_DIR = '/sys/bus/pci/drivers'

/** A kernel driver or module name: letters, digits, _ - . + (vfio-pci, mlx5_vfio_pci, xhci_hcd). */
export const DRIVER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/

export function validateDriverName(name: string): void {
  if (!DRIVER_PATTERN.test(name)) {
    throw new IommuctlError('BAD_DRIVER', `${JSON.stringify(name)} is not a driver name.`, {
      exit: ExitCode.usage,
      suggestion: 'Give a PCI driver as /sys/bus/pci/drivers names it, e.g. vfio-pci.',
    })
  }
}

/** The running kernel's release, for /lib/modules/RELEASE. */
export function kernelRelease(root: Root): string | null {
  return (
    root.readText('/proc/sys/kernel/osrelease') ??
    root.manifest?.kernel ??
    (root.dir === '/' ? os.release() : null)
  )
}

/** Modules and driver names compare with - and _ alike, as modprobe compares them. */
const norm = (name: string) => name.replace(/-/g, '_')

/**
 * How a driver gets loaded: already registered with the PCI bus, or a module modprobe can load
 * (named in modules.dep), or neither (an error before anything changes).
 */
export function driverAvailability(root: Root, name: string): 'loaded' | 'module' | 'unknown' {
  if (root.isDirectory(`${PCI_DRIVERS_DIR}/${name}`)) return 'loaded'
  const release = kernelRelease(root)
  const dep = release ? root.readText(`/lib/modules/${release}/modules.dep`) : null
  if (!dep) return 'unknown'
  const wanted = norm(name)
  for (const line of dep.split('\n')) {
    const file = line.slice(0, line.indexOf(':'))
    const base = file.slice(file.lastIndexOf('/') + 1).replace(/\.ko(\.[a-z]+)?$/, '')
    if (norm(base) === wanted) return 'module'
  }
  return 'unknown'
}

/** The drivers a user binds to for passthrough, listed first when a driver is not found. */
const parksDevices = (d: string) => isVfioDriver(d) || d === 'pci-stub'

export function unknownDriver(root: Root, name: string): IommuctlError {
  const loaded = root.list(PCI_DRIVERS_DIR)
  return new IommuctlError(
    'NO_SUCH_DRIVER',
    `No PCI driver ${name}: none is registered and no module of that name is installed.`,
    {
      path: `${PCI_DRIVERS_DIR}/${name}`,
      suggestion: loaded.length
        ? `Drivers registered now: ${loaded
            .filter(parksDevices)
            .concat(loaded.filter((d) => !parksDevices(d)))
            .slice(0, 12)
            .join(', ')}${loaded.length > 12 ? ', ...' : ''}.`
        : 'No PCI driver is registered under this root.',
    },
  )
}

/** Loads a driver's module with modprobe and checks the driver registered. */
export function loadModule(root: Root, name: string): void {
  const r = spawnSync('modprobe', ['--', name], {encoding: 'utf8'})
  if (r.status === 0 && root.isDirectory(`${PCI_DRIVERS_DIR}/${name}`)) return
  const why = r.error ? r.error.message : r.stderr.trim() || `modprobe exited ${r.status}`
  throw new IommuctlError('MODULE_LOAD', `Cannot load the module for ${name}: ${why}`, {
    suggestion: `Try \`modprobe ${name}\` by hand and read dmesg.`,
  })
}

/** A `alias vfio_pci:PATTERN MODULE` line of modules.alias: what variant modules declare. */
export interface VariantAlias {
  pattern: string
  module: string
}

/**
 * The `alias vfio_pci:...` lines of the running kernel's modules.alias (MODULE_DEVICE_TABLE with
 * PCI_DRIVER_OVERRIDE_DEVICE_VFIO), read once per command: the file is large.
 */
export function variantAliases(root: Root): VariantAlias[] {
  const release = kernelRelease(root)
  const text = release ? root.readText(`/lib/modules/${release}/modules.alias`) : null
  const found: VariantAlias[] = []
  for (const line of text?.split('\n') ?? []) {
    const [kw, pattern, module] = line.split(/\s+/)
    if (kw === 'alias' && pattern?.startsWith('vfio_pci:') && module) found.push({pattern, module})
  }
  return found
}

/**
 * The VFIO variant driver modules.alias names for a device, as libvirt finds it: the device's
 * modalias with its "pci:" prefix read as "vfio_pci:", matched against the variant aliases.
 * Null when none matches.
 */
export function variantDriver(aliases: VariantAlias[], modalias: string | null): string | null {
  if (!modalias?.startsWith('pci:')) return null
  const wanted = 'vfio_' + modalias
  return aliases.find((a) => globMatch(a.pattern, wanted))?.module ?? null
}

/** One element of a compiled glob pattern. */
type GlobToken =
  | {kind: 'star'}
  | {kind: 'any'}
  | {kind: 'char'; c: string}
  | {kind: 'class'; negate: boolean; ranges: [string, string][]}

/**
 * Compiles a pattern once: * ? [...] (with ranges, and ! or ^ negating; a ] first in the set is
 * literal), a backslash quoting the next character, a [ without its ] literal. Null when a range
 * runs backwards ([z-a]): such a pattern matches nothing, as glibc's fnmatch answers it.
 */
function compileGlob(pattern: string): GlobToken[] | null {
  const tokens: GlobToken[] = []
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*') {
      // Runs of * are one *: fewer restart points, same language.
      if (tokens.at(-1)?.kind !== 'star') tokens.push({kind: 'star'})
    } else if (c === '?') tokens.push({kind: 'any'})
    else if (c === '\\' && i + 1 < pattern.length) tokens.push({kind: 'char', c: pattern[++i]!})
    else if (c === '[') {
      const cls = compileClass(pattern, i + 1)
      if (cls === undefined) tokens.push({kind: 'char', c})
      else if (cls === null) return null
      else {
        tokens.push(cls.token)
        i = cls.end
      }
    } else tokens.push({kind: 'char', c})
  }
  return tokens
}

/** A [...] set starting after its [: the token and the index of its ], undefined without a ], null for a backwards range. */
function compileClass(
  pattern: string,
  start: number,
): {token: GlobToken & {kind: 'class'}; end: number} | null | undefined {
  let i = start
  const negate = pattern[i] === '!' || pattern[i] === '^'
  if (negate) i++
  const ranges: [string, string][] = []
  let backwards = false
  for (let first = true; i < pattern.length; first = false) {
    let lo = pattern[i]!
    if (lo === ']' && !first) return backwards ? null : {token: {kind: 'class', negate, ranges}, end: i}
    if (lo === '\\' && i + 1 < pattern.length) lo = pattern[++i]!
    i++
    let hi = lo
    if (pattern[i] === '-' && i + 1 < pattern.length && pattern[i + 1] !== ']') {
      hi = pattern[i + 1]!
      i += 2
      if (hi === '\\' && i < pattern.length) hi = pattern[i++]!
    }
    if (lo > hi) backwards = true
    ranges.push([lo, hi])
  }
  return undefined
}

function tokenMatches(t: GlobToken, c: string): boolean {
  switch (t.kind) {
    case 'any':
      return true
    case 'char':
      return t.c === c
    case 'class':
      return t.ranges.some(([lo, hi]) => lo <= c && c <= hi) !== t.negate
    default:
      return false
  }
}

/**
 * fnmatch(3) without flags, as kmod matches aliases: * ? and [...] sets. No regular expression:
 * a pattern from an untrusted modules.alias is matched in O(pattern × text) steps, never
 * backtracking more than to the last * (a later * supersedes every earlier one).
 */
export function globMatch(pattern: string, text: string): boolean {
  const p = compileGlob(pattern)
  if (p === null) return false
  let px = 0
  let tx = 0
  // Where to go on a mismatch: just after the last *, with it swallowing one more character.
  let starPx = -1
  let starTx = 0
  while (tx < text.length || px < p.length) {
    const t = p[px]
    if (t?.kind === 'star') {
      starPx = px++
      starTx = tx
      continue
    }
    if (t && tx < text.length && tokenMatches(t, text[tx]!)) {
      px++
      tx++
      continue
    }
    if (starPx >= 0 && starTx < text.length) {
      px = starPx + 1
      tx = ++starTx
      continue
    }
    return false
  }
  return true
}
