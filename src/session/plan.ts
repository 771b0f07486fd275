// The plan `iommuctl apply` reads: its TypeScript shape is the source of schemas/plan.json
// (scripts/schemas.js), which validates every plan before anything is opened.
import * as fs from 'node:fs'

import {ExitCode, IommuctlError} from '../errors.js'

/**
 * A size in bytes: a number, or a string with an optional K, M or G suffix (binary: 2M is 2 MiB).
 * @pattern ^[0-9]+[KMG]?$
 */
export type Size = string

/**
 * An I/O virtual address, "0x..." hex.
 * @pattern ^0x[0-9a-fA-F]{1,16}$
 */
export type Iova = string

/**
 * A name later entries refer to.
 * @pattern ^[A-Za-z][A-Za-z0-9_.-]{0,63}$
 */
export type Name = string

/**
 * A PCI address (domain:bus:device.function, lowercase hex) of a device on vfio-pci.
 * @pattern ^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$
 */
export type PlanBdf = string

export interface PlanIoas {
  name: Name
  /** IOMMU_IOAS_ALLOW_IOVAS: the only ranges the kernel may choose IOVAs from. */
  allowIovas?: {start: Iova; last: Iova}[]
  /** IOMMU_OPTION_HUGE_PAGES on the IOAS: false keeps its page tables to 4 KiB pages (default true). */
  hugePages?: boolean
}

export interface PlanMap {
  name: Name
  /** The IOAS (by name) to map into. */
  ioas: Name
  size: Size
  /** A fixed IOVA; the kernel chooses one when absent. */
  iova?: Iova
  /**
   * Where the memory comes from: anonymous (mmap), memfd, hugetlbfs (a memfd with MFD_HUGETLB, 2 MiB
   * pages), or a file on tmpfs or hugetlbfs ({"file": "/dev/hugepages/vm0"}).
   */
  memory?: 'anonymous' | 'memfd' | 'hugetlbfs' | {file: string}
  /** Default true. */
  readable?: boolean
  /** Default true. */
  writable?: boolean
}

export type HwptFlag = 'nest-parent' | 'dirty-tracking' | 'pasid'

export interface PlanHwpt {
  name: Name
  /** The IOAS (by name) the page table translates. */
  ioas: Name
  /** The device whose IOMMU allocates it. */
  device: PlanBdf
  flags?: HwptFlag[]
}

export interface PlanAttach {
  device: PlanBdf
  /** An IOAS or HWPT, by name. */
  to: Name
  /**
   * Attach this PASID of the device instead of the device itself (20 bits at most).
   * @minimum 1
   * @maximum 1048575
   */
  pasid?: number
}

/**
 * What `iommuctl apply` builds, in this order: the devices named anywhere are opened and bound,
 * then the IOASes, maps, HWPTs and attachments, each section in its order.
 */
export interface Plan {
  /** Plan format version. */
  version: 1
  ioas: PlanIoas[]
  maps?: PlanMap[]
  hwpts?: PlanHwpt[]
  attach?: PlanAttach[]
  /**
   * Devices opened and handed to the --exec child unbound, after the bound ones (fd 3 + 1 + bound
   * + i; IOMMUCTL_HANDOFF_FDS): for a VMM that binds them itself. Not named elsewhere in the plan.
   * @uniqueItems true
   */
  handoff?: PlanBdf[]
}

/** Reads a plan file (or - for stdin) as JSON or YAML, by content. */
export async function readPlanText(file: string): Promise<unknown> {
  let text: string
  try {
    text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8')
  } catch (error) {
    throw new IommuctlError('BAD_PLAN', `Cannot read the plan ${file}: ${(error as Error).message}`, {
      exit: ExitCode.usage,
      path: file,
    })
  }
  const trimmed = text.trimStart()
  try {
    if (trimmed.startsWith('{')) return JSON.parse(text)
    const yaml = await import('yaml')
    return yaml.parse(text, {prettyErrors: true})
  } catch (error) {
    throw new IommuctlError('BAD_PLAN', `${file} is neither JSON nor YAML: ${(error as Error).message}`, {
      exit: ExitCode.usage,
      path: file,
    })
  }
}

const UNITS: Record<string, bigint> = {'': 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n}

export function parseSize(s: Size): bigint {
  const m = /^([0-9]+)([KMG]?)$/.exec(s)
  if (!m) throw new Error(`${JSON.stringify(s)} is not a size`)
  return BigInt(m[1]!) * UNITS[m[2]!]!
}

/** A plan problem, named by its entry and field (maps[1].iova): a usage error before anything is opened. */
export function planError(where: string, message: string): IommuctlError {
  return new IommuctlError('BAD_PLAN', `${where}: ${message}`, {exit: ExitCode.usage})
}

export const PAGE = 4096n
export const HUGE_PAGE = 2n << 20n

/**
 * Checks what a schema cannot: names are unique and refer to earlier entries, sizes are page
 * multiples, fixed IOVAs are aligned and do not overlap within an IOAS.
 */
export function checkPlan(plan: Plan): void {
  const ioas = new Set<string>()
  const names = new Set<string>()
  const unique = (where: string, name: string) => {
    if (names.has(name)) throw planError(`${where}.name`, `the name ${name} is used twice`)
    names.add(name)
  }
  plan.ioas.forEach((x, i) => {
    unique(`ioas[${i}]`, x.name)
    ioas.add(x.name)
    x.allowIovas?.forEach((r, k) => {
      if (BigInt(r.start) > BigInt(r.last))
        throw planError(`ioas[${i}].allowIovas[${k}]`, 'start is after last')
    })
  })
  const fixed = new Map<string, {from: bigint; to: bigint; where: string}[]>()
  plan.maps?.forEach((m, i) => {
    const where = `maps[${i}]`
    unique(where, m.name)
    if (!ioas.has(m.ioas)) throw planError(`${where}.ioas`, `no IOAS named ${m.ioas} before it`)
    const size = parseSize(m.size)
    const page = m.memory === 'hugetlbfs' ? HUGE_PAGE : PAGE
    if (size === 0n || size % page)
      throw planError(
        `${where}.size`,
        `${m.size} is not a multiple of the ${page === PAGE ? '4 KiB' : '2 MiB huge'} page size`,
      )
    if (m.iova !== undefined) {
      const from = BigInt(m.iova)
      if (from % PAGE) throw planError(`${where}.iova`, `${m.iova} is not page aligned`)
      const list = fixed.get(m.ioas) ?? []
      const clash = list.find((o) => from < o.to && o.from < from + size)
      if (clash)
        throw planError(`${where}.iova`, `[${m.iova}, +${m.size}) overlaps ${clash.where} in IOAS ${m.ioas}`)
      list.push({from, to: from + size, where})
      fixed.set(m.ioas, list)
    }
    if (m.readable === false && m.writable === false)
      throw planError(`${where}`, 'a map must be readable or writable')
  })
  const hwpts = new Set<string>()
  plan.hwpts?.forEach((h, i) => {
    unique(`hwpts[${i}]`, h.name)
    if (!ioas.has(h.ioas)) throw planError(`hwpts[${i}].ioas`, `no IOAS named ${h.ioas} before it`)
    hwpts.add(h.name)
  })
  const attached = new Set<string>()
  plan.attach?.forEach((a, i) => {
    if (!ioas.has(a.to) && !hwpts.has(a.to))
      throw planError(`attach[${i}].to`, `no IOAS or HWPT named ${a.to}`)
    const key = `${a.device}/${a.pasid ?? '-'}`
    if (attached.has(key)) {
      throw planError(`attach[${i}]`, `${a.device}${a.pasid ? ` PASID ${a.pasid}` : ''} is attached twice`)
    }
    attached.add(key)
  })
}
