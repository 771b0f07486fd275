// The plan `iommuctl apply` reads: its TypeScript shape is the source of schemas/plan.json
// (scripts/schemas.js), which validates every plan before anything is opened.
import * as fs from 'node:fs'

import {ExitCode, IommuctlError} from '../errors.js'
import {formatBytes, MAX_U64, parseSize} from '../model/units-of-measure.js'

/**
 * A size in bytes, below 2^64: an integer, optionally with K, M, G or T (binary: 2M is 2 MiB) and
 * iB, as a string (src/model/units-of-measure.ts, SIZE_PATTERN).
 * @pattern ^[0-9]{1,20}([KMGT](iB)?)?$
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
 * A VFIO device: a PCI address (domain:bus:device.function, lowercase hex) of a device on
 * vfio-pci, or a mediated device's UUID (lowercase, as `mdevs list` shows it), which joins the
 * IOAS through the kernel's emulated path (vfio_iommufd_emulated_bind, _attach_ioas).
 * @pattern ^([0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$
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

/**
 * What a nested HWPT's data describes (IOMMU_HWPT_DATA_*): a VT-d stage-1 page table (struct
 * iommu_hwpt_vtd_s1), an SMMUv3 stream table entry (iommu_hwpt_arm_smmuv3), or the iommufd
 * selftest's mock (iommu_hwpt_selftest, kernels with CONFIG_IOMMUFD_TEST).
 */
export type HwptDataType = 'vtd-s1' | 'arm-smmuv3' | 'selftest'

/**
 * What an IOMMU_HWPT_INVALIDATE request array holds: VT-d stage-1 ranges
 * (iommu_hwpt_vtd_s1_invalidate, on a nested HWPT), SMMUv3 commands
 * (iommu_viommu_arm_smmuv3_invalidate, on a vIOMMU), or the selftest mock's (on either).
 */
export type InvalidateDataType = 'vtd-s1' | 'arm-smmuv3' | 'selftest'

/** A vIOMMU's type (IOMMU_VIOMMU_TYPE_*); selftest is the iommufd selftest's mock. */
export type ViommuType = 'arm-smmuv3' | 'tegra241-cmdqv' | 'selftest'

/**
 * A device's id as the guest sees it behind a vIOMMU (vSID, vDeviceID, vRID), "0x..." hex.
 * @pattern ^0x[0-9a-fA-F]{1,16}$
 */
export type VirtId = string

/**
 * A driver struct's bytes, in memory order, as hex digits (at most 4096 bytes): "efbead0b00000000"
 * is an iommu_hwpt_selftest with iotlb 0xbadbeef.
 * @pattern ^([0-9a-fA-F]{2}){1,4096}$
 */
export type HexBytes = string

/**
 * An HWPT: on an IOAS (a paging HWPT), or with parent and data on a nest-parent HWPT (a nested
 * HWPT, whose page table the guest owns).
 */
export interface PlanHwpt {
  name: Name
  /** The IOAS (by name) the page table translates; for a paging HWPT. */
  ioas?: Name
  /**
   * For a nested HWPT: an earlier HWPT (by name) allocated with nest-parent, or a vIOMMU of
   * `viommus` (such an HWPT is made after the vIOMMUs and vDEVICEs).
   */
  parent?: Name
  /** The device whose IOMMU allocates it. */
  device: PlanBdf
  flags?: HwptFlag[]
  /** For a nested HWPT: the data's type. */
  dataType?: HwptDataType
  /** For a nested HWPT: the driver struct the data type names. */
  data?: HexBytes
  /**
   * A fault queue of `faultQueues` (by name) that this HWPT's page requests go to
   * (IOMMU_HWPT_FAULT_ID_VALID): read and answered with `domains faults`.
   */
  faultQueue?: Name
}

/** A fault queue (IOMMU_FAULT_QUEUE_ALLOC): where the page requests of HWPTs naming it are queued. */
export interface PlanFaultQueue {
  name: Name
}

/**
 * A vEVENTQ's type (IOMMU_VEVENTQ_TYPE_*): SMMUv3 event records, Tegra241 CMDQV error maps, or the
 * iommufd selftest mock's.
 */
export type VeventqType = 'arm-smmuv3' | 'tegra241-cmdqv' | 'selftest'

/** A vEVENTQ (IOMMU_VEVENTQ_ALLOC): a vIOMMU's queue of events of one type, read with `domains events`. */
export interface PlanVeventq {
  name: Name
  /** A vIOMMU of `viommus` (by name). */
  viommu: Name
  type: VeventqType
  /**
   * The most events it holds before it loses some (and says so); default 64.
   * @asType integer
   * @minimum 1
   * @maximum 524288
   */
  depth?: number
}

/** A vIOMMU (IOMMU_VIOMMU_ALLOC): the IOMMU a guest is shown, on a nest-parent HWPT. */
export interface PlanViommu {
  name: Name
  /** An HWPT of the plan (by name) allocated with nest-parent, not on a vIOMMU itself. */
  hwpt: Name
  /** The device whose physical IOMMU backs it. */
  device: PlanBdf
  type: ViommuType
}

/** A vDEVICE (IOMMU_VDEVICE_ALLOC): a device as the guest sees it behind a vIOMMU. */
export interface PlanVdevice {
  name: Name
  /** A vIOMMU of `viommus` (by name). */
  viommu: Name
  device: PlanBdf
  /** Its id behind the vIOMMU: the guest's vSID (SMMUv3) or vRID. */
  virtId: VirtId
}

export interface PlanAttach {
  device: PlanBdf
  /** An IOAS or HWPT, by name. */
  to: Name
  /**
   * Attach this PASID of the device instead of the device itself (20 bits at most).
   * @asType integer
   * @minimum 1
   * @maximum 1048575
   */
  pasid?: number
}

/**
 * What `iommuctl apply` builds, in this order: the devices named anywhere are opened and bound,
 * then the IOASes, maps, fault queues, HWPTs, vIOMMUs, vDEVICEs, vEVENTQs, the HWPTs on vIOMMUs,
 * and attachments, each section in its order.
 */
export interface Plan {
  /** Plan format version. */
  version: 1
  ioas: PlanIoas[]
  maps?: PlanMap[]
  faultQueues?: PlanFaultQueue[]
  hwpts?: PlanHwpt[]
  viommus?: PlanViommu[]
  vdevices?: PlanVdevice[]
  veventqs?: PlanVeventq[]
  attach?: PlanAttach[]
  /**
   * Devices opened and handed to the --exec child unbound, after the bound ones (fd 3 + 1 + bound
   * + i; IOMMUCTL_HANDOFF_FDS): for a VMM that binds them itself. Not named elsewhere in the plan.
   * @uniqueItems true
   */
  handoff?: PlanBdf[]
}

/** The most a plan may hold, from a file or stdin: a plan is a few KiB; more is a mistake. */
export const MAX_PLAN_BYTES = 1 << 20

/** What a document read by readDocument is, in its errors: the code, its name ("The plan") and its cap. */
export interface DocumentKind {
  code: string
  name: string
  limit: number
  suggestion: string
}

const PLAN_DOCUMENT: DocumentKind = {
  code: 'BAD_PLAN',
  name: 'The plan',
  limit: MAX_PLAN_BYTES,
  suggestion: 'Give a file, or - to read the plan from stdin.',
}

/**
 * Reads a plan file (or - for stdin) as JSON or YAML, by content: at most MAX_PLAN_BYTES of UTF-8,
 * from a regular file or a stream, a key given twice in one object refused.
 */
export async function readPlanText(file: string): Promise<unknown> {
  return readDocument(file, PLAN_DOCUMENT, (twice) => planError(twice, 'given twice in one object'))
}

/**
 * A JSON or YAML document (by content) from a regular file, or - for stdin: at most kind.limit
 * bytes of UTF-8, a key given twice in one object refused (duplicate(path) makes that error).
 * Every refusal is a usage error with kind.code.
 */
export async function readDocument(
  file: string,
  kind: DocumentKind,
  duplicate: (path: string) => IommuctlError,
): Promise<unknown> {
  const noun = kind.name.replace(/^The /, 'the ')
  const where = file === '-' ? `${noun} on stdin` : file
  const bad = (message: string) =>
    new IommuctlError(kind.code, message, {exit: ExitCode.usage, ...(file === '-' ? {} : {path: file})})
  let bytes: Buffer
  try {
    bytes =
      file === '-' ? await readStream(process.stdin, kind.limit) : readRegularFile(file, kind.limit, kind)
  } catch (error) {
    if (error instanceof IommuctlError) throw error
    throw bad(`Cannot read ${noun} ${file}: ${(error as Error).message}`)
  }
  if (bytes.length > kind.limit)
    throw bad(`${where} is over ${kind.limit} bytes (${formatBytes(kind.limit)}), the most ${noun} may be.`)
  let text: string
  try {
    text = new TextDecoder('utf-8', {fatal: true}).decode(bytes)
  } catch {
    throw bad(`${where} is not UTF-8 text.`)
  }
  let data: unknown
  try {
    if (text.trimStart().startsWith('{')) {
      data = JSON.parse(text)
    } else {
      const yaml = await import('yaml')
      data = yaml.parse(text, {prettyErrors: true, uniqueKeys: true})
    }
  } catch (error) {
    throw bad(`${where} is neither JSON nor YAML: ${(error as Error).message}`)
  }
  const twice = typeof data === 'object' ? duplicateKey(text) : null
  if (twice) throw duplicate(twice)
  return data
}

/**
 * Up to limit + 1 bytes of a regular file (a FIFO or device is refused: opened non-blocking, then
 * checked, so that neither can stall or flood the read). `what` names it in the refusal.
 */
export function readRegularFile(
  file: string,
  limit: number,
  what = {code: 'BAD_PLAN', name: 'The plan', suggestion: 'Give a file, or - to read the plan from stdin.'},
): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY)
  try {
    if (!fs.fstatSync(fd).isFile()) {
      throw new IommuctlError(what.code, `${what.name} ${file} is not a regular file.`, {
        exit: ExitCode.usage,
        path: file,
        suggestion: what.suggestion,
      })
    }
    const buffer = Buffer.alloc(limit + 1)
    let n = 0
    for (let got; n < buffer.length && (got = fs.readSync(fd, buffer, n, buffer.length - n, null)) > 0;)
      n += got
    return buffer.subarray(0, n)
  } finally {
    fs.closeSync(fd)
  }
}

/** A stream read to its end, or up to the first chunk past limit bytes (then left unread). */
export async function readStream(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    chunks.push(b)
    n += b.length
    if (n > limit) break
  }
  return Buffer.concat(chunks)
}

/**
 * The first key given twice in one object of a JSON text (JSON.parse keeps the last silently), as
 * a plan path (maps[0].size); null when there is none. The text is valid JSON: parsed already.
 */
export function duplicateKey(text: string): string | null {
  interface Frame {
    path: string
    keys: Set<string> | null
    key: string
    index: number
    expectKey: boolean
  }
  const stack: Frame[] = []
  const child = () => {
    const top = stack.at(-1)
    if (!top) return ''
    return top.keys ? (top.path ? `${top.path}.${top.key}` : top.key) : `${top.path}[${top.index}]`
  }
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    const top = stack.at(-1)
    if (c === '"') {
      let j = i + 1
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string
        top.key = key
        if (top.keys.has(key)) return child()
        top.keys.add(key)
        top.expectKey = false
      }
      i = j
    } else if (c === '{' || c === '[') {
      stack.push({path: child(), keys: c === '{' ? new Set() : null, key: '', index: 0, expectKey: c === '{'})
    } else if (c === '}' || c === ']') {
      stack.pop()
    } else if (c === ',' && top) {
      if (top.keys) top.expectKey = true
      else top.index++
    }
  }
  return null
}

/** A size field of the plan in bytes; a usage error naming the field when it is not one. */
export function planSize(where: string, text: Size): bigint {
  try {
    return parseSize(text)
  } catch (error) {
    throw planError(where, (error as Error).message)
  }
}

/** A plan problem, named by its entry and field (maps[1].iova): a usage error before anything is opened. */
export function planError(where: string, message: string): IommuctlError {
  return new IommuctlError('BAD_PLAN', `${where}: ${message}`, {exit: ExitCode.usage})
}

export const PAGE = 4096n
export const HUGE_PAGE = 2n << 20n

/** A file to map must be there, regular, and hold the bytes mapped: checked before /dev/iommu is opened. */
function checkMemoryFile(where: string, file: string, size: bigint): void {
  const st = fs.statSync(file, {throwIfNoEntry: false, bigint: true})
  if (!st) throw planError(where, `${file} does not exist`)
  if (!st.isFile()) throw planError(where, `${file} is not a regular file`)
  if (st.size < size) throw planError(where, `${file} holds ${st.size} bytes, less than the ${size} to map`)
}

/**
 * Checks what a schema cannot: names are unique and refer to earlier entries, sizes are page
 * multiples below 2^64, fixed IOVAs are aligned, end within 64 bits and do not overlap within an
 * IOAS, files to map are there and large enough.
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
    const size = planSize(`${where}.size`, m.size)
    const page = m.memory === 'hugetlbfs' ? HUGE_PAGE : PAGE
    if (size === 0n || size % page)
      throw planError(
        `${where}.size`,
        `${m.size} is not a multiple of the ${page === PAGE ? '4 KiB' : '2 MiB huge'} page size`,
      )
    if (m.iova !== undefined) {
      const from = BigInt(m.iova)
      if (from % PAGE) throw planError(`${where}.iova`, `${m.iova} is not page aligned`)
      if (from + size - 1n > MAX_U64)
        throw planError(`${where}.iova`, `[${m.iova}, +${m.size}) runs past the end of the 64-bit IOVA space`)
      const list = fixed.get(m.ioas) ?? []
      const clash = list.find((o) => from < o.to && o.from < from + size)
      if (clash)
        throw planError(`${where}.iova`, `[${m.iova}, +${m.size}) overlaps ${clash.where} in IOAS ${m.ioas}`)
      list.push({from, to: from + size, where})
      fixed.set(m.ioas, list)
    }
    if (m.readable === false && m.writable === false)
      throw planError(`${where}`, 'a map must be readable or writable')
    if (typeof m.memory === 'object') checkMemoryFile(`${where}.memory.file`, m.memory.file, size)
  })
  const faultQueues = new Set<string>()
  plan.faultQueues?.forEach((q, i) => {
    unique(`faultQueues[${i}]`, q.name)
    faultQueues.add(q.name)
  })
  const hwpts = new Set<string>()
  // HWPTs on a vIOMMU: made after the vIOMMUs, so none can be a vIOMMU's or another HWPT's parent.
  const onViommu = new Set<string>()
  const viommus = new Set(plan.viommus?.map((v) => v.name))
  plan.hwpts?.forEach((h, i) => {
    const where = `hwpts[${i}]`
    unique(where, h.name)
    if ((h.ioas === undefined) === (h.parent === undefined))
      throw planError(where, 'give one of ioas (a paging HWPT) and parent (a nested one)')
    if (h.ioas !== undefined && !ioas.has(h.ioas))
      throw planError(`${where}.ioas`, `no IOAS named ${h.ioas} before it`)
    if (h.parent !== undefined && onViommu.has(h.parent))
      throw planError(`${where}.parent`, `${h.parent} is a nested HWPT (on a vIOMMU): it cannot be a parent`)
    if (h.parent !== undefined && !hwpts.has(h.parent) && !viommus.has(h.parent))
      throw planError(`${where}.parent`, `no HWPT named ${h.parent} before it, and no vIOMMU of that name`)
    if ((h.parent !== undefined) !== (h.data !== undefined && h.dataType !== undefined))
      throw planError(
        where,
        'a nested HWPT (parent) needs dataType and data; a paging one (ioas) takes neither',
      )
    if (h.faultQueue !== undefined && !faultQueues.has(h.faultQueue))
      throw planError(`${where}.faultQueue`, `no fault queue named ${h.faultQueue} in faultQueues`)
    if (h.parent !== undefined && viommus.has(h.parent)) onViommu.add(h.name)
    hwpts.add(h.name)
  })
  plan.viommus?.forEach((v, i) => {
    unique(`viommus[${i}]`, v.name)
    if (!hwpts.has(v.hwpt) || onViommu.has(v.hwpt))
      throw planError(`viommus[${i}].hwpt`, `no nest-parent HWPT named ${v.hwpt} in hwpts`)
  })
  plan.vdevices?.forEach((d, i) => {
    unique(`vdevices[${i}]`, d.name)
    if (!viommus.has(d.viommu))
      throw planError(`vdevices[${i}].viommu`, `no vIOMMU named ${d.viommu} in viommus`)
  })
  const eventTypes = new Set<string>()
  plan.veventqs?.forEach((q, i) => {
    unique(`veventqs[${i}]`, q.name)
    if (!viommus.has(q.viommu))
      throw planError(`veventqs[${i}].viommu`, `no vIOMMU named ${q.viommu} in viommus`)
    // iommufd_veventq_alloc: one vEVENTQ per vIOMMU and type (EEXIST).
    if (eventTypes.has(`${q.viommu}/${q.type}`))
      throw planError(`veventqs[${i}].type`, `vIOMMU ${q.viommu} has a ${q.type} vEVENTQ already`)
    eventTypes.add(`${q.viommu}/${q.type}`)
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
