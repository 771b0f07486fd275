// The engine behind `apply` and the session daemon: one /dev/iommu descriptor and every object
// made in it (IOASes, HWPTs, bound devices, the memory mapped into them), with a record of each so
// that it can be listed and torn down in order. The kernel lists no process's objects, so this
// record is the only one.
import * as fs from 'node:fs'

import {ExitCode, IommuctlError} from '../errors.js'
import {explain} from '../iommufd/explain.js'
import {hex, Hex} from '../records.js'
import * as U from '../native/uapi/iommufd.js'
import {parseMemlock} from '../sysfs/limits.js'
import type {PageFault, PageResponse, VEvent} from '../iommufd/events.js'
import {
  FileMemory,
  Kernel,
  KernelDevice,
  KernelFaultQueue,
  KernelIommufd,
  KernelVEventQueue,
} from './kernel.js'
import {HWPT_DATA_TYPES, INVALIDATE_TYPES, VEVENTQ_TYPES, VIOMMU_TYPES} from './nesting.js'
import {HwptDataType, HwptFlag, InvalidateDataType, PlanMap, VeventqType, ViommuType} from './plan.js'

export interface MappingRecord {
  name: string | null
  iova: Hex
  length: Hex
  memory: string
  readable: boolean
  writable: boolean
}

/** One object in the session's iommufd, as the kernel numbered it. */
export interface SessionObject {
  /** The kernel's object id in this iommufd. */
  id: number
  kind: 'ioas' | 'hwpt' | 'viommu' | 'vdevice' | 'fault-queue' | 'veventq' | 'device'
  name: string | null
  /**
   * What it is made on: for a paging HWPT the IOAS it translates, for a nested HWPT its
   * nest-parent HWPT or vIOMMU, for a vIOMMU its nest-parent HWPT, for a vDEVICE or a vEVENTQ its
   * vIOMMU.
   */
  parent: number | null
  /**
   * For a device, its PCI address; for an HWPT or vIOMMU, the device it was allocated for; for a
   * vDEVICE, the device it stands for.
   */
  bdf: string | null
  /** For an HWPT. */
  flags: HwptFlag[]
  /** For a nested HWPT, what its data describes; for a vIOMMU or a vEVENTQ, its type. */
  type: HwptDataType | ViommuType | VeventqType | null
  /** For an HWPT: the fault queue its page requests go to. */
  faultQueue: number | null
  /** For a vEVENTQ: the most events it holds. */
  depth: number | null
  /** For a vDEVICE: the device's id behind the vIOMMU (vSID, vRID). */
  virtId: Hex | null
  /** For a device: the IOAS or HWPT its RID is attached to. */
  attachedTo: number | null
  /** For a device: PASIDs attached, and to what. */
  pasids: {pasid: number; pt: number}[]
  /** For an IOAS: what is mapped in it. */
  mappings: MappingRecord[]
  /** For an IOAS: IOMMU_OPTION_HUGE_PAGES as the kernel reports it. */
  hugePages: boolean | null
  /**
   * For a device, a fault queue or a vEVENTQ: its descriptor in the process holding the session
   * (what --exec hands on).
   */
  fd: number | null
}

/** A page request read from a session's fault queue (struct iommu_hwpt_pgfault, as PageFault decodes it). */
export type FaultRecord = Omit<PageFault, 'addr'> & {
  /** The fault queue it was read from. */
  queue: number
  /** The faulting device's PCI address (or mdev UUID) when it is this session's; null otherwise. */
  device: string | null
  addr: Hex
  /** The answer given to its group (`--respond`); null when it was not answered. */
  response: PageResponse | null
}

/** A record read from a session's vEVENTQ (struct iommufd_vevent_header and its data, as VEvent decodes them). */
export type EventRecord = Omit<VEvent, 'data'> & {
  /** The vEVENTQ it was read from. */
  queue: number
  /** The type's record, as hex digits in memory order; empty for a lost-events header. */
  data: string
}

export interface EngineState {
  /** The iommufd descriptor. */
  iommufd: number
  objects: SessionObject[]
  /** Bytes of memory mapped (and so pinned once a device is attached). */
  pinnedBytes: number
  /** The most the session will pin; null for no limit. */
  maxPinnedBytes: number | null
}

/** The memory behind one mapping: mmap'd (unmapped on release) or a descriptor (closed). */
interface Memory {
  release(): void
}

interface MapEntry extends MappingRecord {
  bytes: bigint
  memoryOwner: Memory
}

const FLAG_BITS: Record<HwptFlag, number> = {
  'nest-parent': U.IOMMU_HWPT_ALLOC_NEST_PARENT,
  'dirty-tracking': U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  pasid: U.IOMMU_HWPT_ALLOC_PASID,
}

/** What IOMMU_HWPT_INVALIDATE did: every entry handled (a refusal is an error saying how many were). */
export interface InvalidateResult {
  handled: number
  requested: number
}

/** A device's attachment: the page table the kernel answered with, and the object asked for. */
interface Attachment {
  /** What the kernel uses: for an IOAS, the HWPT it made (or reused) for it. */
  pt: number
  /** The IOAS or HWPT of this session it was attached to. */
  to: number
}

export class Engine {
  readonly iommufd: KernelIommufd
  private readonly ioases = new Map<number, {name: string | null; maps: MapEntry[]}>()
  private readonly hwpts = new Map<
    number,
    {
      name: string | null
      parent: number
      bdf: string
      flags: HwptFlag[]
      type: HwptDataType | null
      faultQueue: number | null
    }
  >()
  private readonly viommus = new Map<
    number,
    {name: string | null; hwpt: number; bdf: string; type: ViommuType}
  >()
  private readonly vdevices = new Map<
    number,
    {name: string | null; viommu: number; bdf: string; virtId: bigint}
  >()
  private readonly faultQueues = new Map<number, {name: string | null; queue: KernelFaultQueue}>()
  private readonly veventqs = new Map<
    number,
    {name: string | null; viommu: number; type: VeventqType; depth: number; queue: KernelVEventQueue}
  >()
  private readonly devices = new Map<
    string,
    {cdev: KernelDevice; devId: number; rid: Attachment | null; pasids: Map<number, Attachment>}
  >()
  private readonly names = new Map<string, number>()
  private pinned = 0n
  private closed = false

  /** Opens an iommufd of the kernel's: hostKernel(root) for the real one, a twin in tests. */
  constructor(
    private readonly kernel: Kernel,
    readonly maxPinned: bigint | null,
  ) {
    this.iommufd = kernel.openIommufd()
  }

  /** The kind of an object this session made, or undefined. */
  private kindOf(id: number): SessionObject['kind'] | undefined {
    if (this.ioases.has(id)) return 'ioas'
    if (this.hwpts.has(id)) return 'hwpt'
    if (this.viommus.has(id)) return 'viommu'
    if (this.vdevices.has(id)) return 'vdevice'
    if (this.faultQueues.has(id)) return 'fault-queue'
    if (this.veventqs.has(id)) return 'veventq'
    return undefined
  }

  /** An object id from a name or a number ("3" or "main"). */
  resolve(ref: string | number, kinds: SessionObject['kind'][] = ['ioas', 'hwpt']): number {
    const id = typeof ref === 'number' ? ref : /^\d+$/.test(ref) ? Number(ref) : this.names.get(ref)
    const kind = id === undefined ? undefined : this.kindOf(id)
    if (id === undefined || !kind || !kinds.includes(kind)) {
      throw new IommuctlError('NO_SUCH_OBJECT', `No ${kinds.join(' or ')} ${ref} in this session.`, {
        suggestion: 'List the objects with `iommuctl domains list` (or `session status`).',
      })
    }
    return id
  }

  /** Opens the device's VFIO cdev and binds it to this iommufd (once). */
  device(bdf: string): {devId: number; fd: number} {
    const have = this.devices.get(bdf)
    if (have) return {devId: have.devId, fd: have.cdev.fd}
    const cdev = this.kernel.openDevice(this.kernel.deviceNode(bdf))
    try {
      const devId = cdev.bind(this.iommufd)
      this.devices.set(bdf, {cdev, devId, rid: null, pasids: new Map()})
      return {devId, fd: cdev.fd}
    } catch (error) {
      cdev.close()
      throw error
    }
  }

  createIoas(
    name: string | null,
    allowIovas?: {start: bigint; last: bigint}[],
    options: {hugePages?: boolean} = {},
  ): number {
    this.claim(name)
    const id = this.iommufd.ioasAlloc()
    this.ioases.set(id, {name, maps: []})
    if (name) this.names.set(name, id)
    try {
      if (allowIovas?.length) this.iommufd.allowIovas(id, allowIovas)
      if (options.hugePages !== undefined) {
        this.iommufd.option(U.IOMMU_OPTION_HUGE_PAGES, U.IOMMU_OPTION_OP_SET, id, options.hugePages ? 1n : 0n)
      }
    } catch (error) {
      this.destroy(id)
      throw error
    }
    return id
  }

  /** IOMMU_OPTION_HUGE_PAGES of an IOAS, as the kernel reports it. */
  hugePages(ioasRef: string | number): boolean {
    const id = this.resolve(ioasRef, ['ioas'])
    return this.iommufd.option(U.IOMMU_OPTION_HUGE_PAGES, U.IOMMU_OPTION_OP_GET, id) === 1n
  }

  /** Maps memory of the kind asked for into an IOAS; the memory lives as long as the mapping. */
  map(
    ioasRef: string | number,
    m: Omit<PlanMap, 'ioas' | 'size' | 'name'> & {name: string | null; size: bigint},
  ): MappingRecord {
    const ioas = this.resolve(ioasRef, ['ioas'])
    if (this.maxPinned !== null && this.pinned + m.size > this.maxPinned) {
      throw new IommuctlError(
        'PIN_LIMIT',
        `Mapping ${m.size} more bytes would pin ${this.pinned + m.size}, over this session's limit of ${this.maxPinned}.`,
        {
          suggestion:
            'Unmap something first, or start the session with a higher --max-pinned (and RLIMIT_MEMLOCK).',
        },
      )
    }
    const iova = m.iova === undefined ? undefined : BigInt(m.iova)
    const readable = m.readable !== false
    const writable = m.writable !== false
    const kind = typeof m.memory === 'object' ? `file ${m.memory.file}` : (m.memory ?? 'anonymous')
    let owner: Memory | undefined
    try {
      let got: bigint
      if (m.memory === undefined || m.memory === 'anonymous') {
        const mapping = this.kernel.anonymous(m.size)
        owner = {release: () => mapping.unmap()}
        got = this.iommufd.map(ioas, {
          userVa: mapping.address,
          length: m.size,
          iova,
          writeable: writable,
          readable,
        })
      } else {
        const file = this.memoryFile(m.memory, m.size, writable)
        owner = {release: () => file.close()}
        got = this.iommufd.mapFile(ioas, file.fd, 0n, m.size, iova, {writeable: writable, readable})
      }
      const entry: MapEntry = {
        name: m.name,
        iova: hex(got),
        length: hex(m.size),
        memory: kind,
        readable,
        writable,
        bytes: m.size,
        memoryOwner: owner,
      }
      this.ioases.get(ioas)!.maps.push(entry)
      this.pinned += m.size
      return record(entry)
    } catch (error) {
      owner?.release()
      throw error
    }
  }

  private memoryFile(memory: NonNullable<PlanMap['memory']>, size: bigint, writable: boolean): FileMemory {
    if (typeof memory === 'object') {
      const st = fs.statSync(memory.file, {throwIfNoEntry: false})
      if (!st?.isFile()) {
        throw new IommuctlError('BAD_PLAN', `${memory.file} is not a file.`, {
          exit: ExitCode.usage,
          path: memory.file,
        })
      }
      if (BigInt(st.size) < size) {
        throw new IommuctlError(
          'BAD_PLAN',
          `${memory.file} holds ${st.size} bytes, less than the ${size} to map.`,
          {
            exit: ExitCode.usage,
            path: memory.file,
          },
        )
      }
      return this.kernel.openFile(memory.file, writable)
    }
    return this.kernel.memfd(size, memory === 'hugetlbfs')
  }

  /** Unmaps one mapping this session made, named by the IOVA it starts at ("0x...") or by its name. */
  unmap(ioasRef: string | number, mapping: string): MappingRecord {
    const ioas = this.resolve(ioasRef, ['ioas'])
    const maps = this.ioases.get(ioas)!.maps
    const byIova = /^0x[0-9a-f]+$/i.test(mapping)
    const i = maps.findIndex((m) => (byIova ? BigInt(m.iova) === BigInt(mapping) : m.name === mapping))
    if (i < 0) {
      const named = maps.filter((m) => m.name).map((m) => `${m.name} (${m.iova})`)
      throw new IommuctlError(
        'NO_SUCH_MAPPING',
        `Nothing this session mapped ${byIova ? 'starts at' : 'is named'} ${mapping} in IOAS ${ioas}.`,
        {
          suggestion: `Its mappings: ${maps.map((m) => m.iova).join(', ') || 'none'}${named.length ? `; named: ${named.join(', ')}` : ''}.`,
        },
      )
    }
    const m = maps[i]!
    this.iommufd.unmap(ioas, BigInt(m.iova), m.bytes)
    maps.splice(i, 1)
    m.memoryOwner.release()
    this.pinned -= m.bytes
    return record(m)
  }

  /**
   * An HWPT for a device: a paging one on an IOAS, or, with `nested`, a nested one on a nest-parent
   * HWPT or a vIOMMU, its page table described by the data (which the kernel checks). With
   * `faultQueueRef`, its page requests go to that fault queue of this session.
   */
  createHwpt(
    name: string | null,
    ptRef: string | number,
    bdf: string,
    flags: HwptFlag[] = [],
    nested?: {type: HwptDataType; data: Buffer},
    faultQueueRef?: string | number,
  ): number {
    const parent = this.resolve(ptRef, nested ? ['hwpt', 'viommu'] : ['ioas'])
    const faultQueue = faultQueueRef === undefined ? null : this.resolve(faultQueueRef, ['fault-queue'])
    this.claim(name)
    const {devId} = this.device(bdf)
    const bits =
      flags.reduce((a, f) => a | FLAG_BITS[f], 0) | (faultQueue === null ? 0 : U.IOMMU_HWPT_FAULT_ID_VALID)
    const data = nested && {type: HWPT_DATA_TYPES[nested.type], bytes: nested.data}
    const id = this.iommufd.hwptAlloc(devId, parent, bits, data, faultQueue ?? 0)
    this.hwpts.set(id, {name, parent, bdf, flags, type: nested?.type ?? null, faultQueue})
    if (name) this.names.set(name, id)
    return id
  }

  /** A vIOMMU of `type` on a nest-parent HWPT, backed by the IOMMU of the device. */
  createViommu(name: string | null, hwptRef: string | number, bdf: string, type: ViommuType): number {
    const hwpt = this.resolve(hwptRef, ['hwpt'])
    this.claim(name)
    const {devId} = this.device(bdf)
    const {id} = this.iommufd.viommuAlloc(devId, hwpt, VIOMMU_TYPES[type])
    this.viommus.set(id, {name, hwpt, bdf, type})
    if (name) this.names.set(name, id)
    return id
  }

  /** A vDEVICE: the device as a guest sees it behind a vIOMMU, at its virtual id. */
  createVdevice(name: string | null, viommuRef: string | number, bdf: string, virtId: bigint): number {
    const viommu = this.resolve(viommuRef, ['viommu'])
    this.claim(name)
    const {devId} = this.device(bdf)
    const id = this.iommufd.vdeviceAlloc(viommu, devId, virtId)
    this.vdevices.set(id, {name, viommu, bdf, virtId})
    if (name) this.names.set(name, id)
    return id
  }

  /** A fault queue (IOMMU_FAULT_QUEUE_ALLOC), for HWPTs made with it to send their page requests to. */
  createFaultQueue(name: string | null): number {
    this.claim(name)
    const queue = this.iommufd.faultQueueAlloc()
    this.faultQueues.set(queue.id, {name, queue})
    if (name) this.names.set(name, queue.id)
    return queue.id
  }

  /** A vEVENTQ (IOMMU_VEVENTQ_ALLOC) of `type` on a vIOMMU, holding at most `depth` events. */
  createVeventq(name: string | null, viommuRef: string | number, type: VeventqType, depth: number): number {
    const viommu = this.resolve(viommuRef, ['viommu'])
    this.claim(name)
    const spec = VEVENTQ_TYPES[type]
    const queue = this.iommufd.veventqAlloc(viommu, spec.type, depth, spec.dataLen)
    this.veventqs.set(queue.id, {name, viommu, type, depth, queue})
    if (name) this.names.set(name, queue.id)
    return queue.id
  }

  /**
   * The page requests waiting in a fault queue, at most `max` (whole groups; none: an empty
   * list, at once). With `respond`, each group's last request is answered so as it is read.
   */
  readFaults(ref: string | number, max?: number, respond?: PageResponse): FaultRecord[] {
    const id = this.resolve(ref, ['fault-queue'])
    const {queue} = this.faultQueues.get(id)!
    const byDevId = new Map([...this.devices].map(([bdf, d]) => [d.devId, bdf]))
    return queue.read(max).map((f) => {
      if (respond && f.lastPage) queue.respond(f.cookie, respond)
      const response = respond && f.lastPage ? respond : null
      return {...f, queue: id, device: byDevId.get(f.devId) ?? null, addr: hex(f.addr), response}
    })
  }

  /** Answers the fault group of `cookie` in a fault queue; the kernel refuses a cookie nothing waits on. */
  respondFault(ref: string | number, cookie: number, response: PageResponse): void {
    const id = this.resolve(ref, ['fault-queue'])
    this.faultQueues.get(id)!.queue.respond(cookie, response)
  }

  /** The events waiting in a vEVENTQ, at most `max` (none: an empty list, at once). */
  readEvents(ref: string | number, max?: number): EventRecord[] {
    const id = this.resolve(ref, ['veventq'])
    return this.veventqs
      .get(id)!
      .queue.read(max)
      .map((e) => ({...e, queue: id, data: e.data.toString('hex')}))
  }

  /**
   * IOMMU_HWPT_INVALIDATE on a nested HWPT or a vIOMMU with an array of entries of one type. A
   * type the object's kind never takes is refused before the kernel is asked; the kernel decides
   * the rest, and when it refuses an entry the error says how many it handled first.
   */
  invalidate(ref: string | number, type: InvalidateDataType, entries: Buffer): InvalidateResult {
    const id = this.resolve(ref, ['hwpt', 'viommu'])
    const kind = this.viommus.has(id) ? 'viommu' : 'hwpt'
    if (kind === 'hwpt' && this.hwpts.get(id)!.type === null) {
      throw new IommuctlError(
        'NOT_NESTED',
        `HWPT ${id} is not nested: only a nested HWPT's caches are invalidated.`,
        {
          suggestion: 'Give a nested HWPT (domains create hwpt --parent ...) or a vIOMMU.',
        },
      )
    }
    const spec = INVALIDATE_TYPES[kind][type]
    if (!spec) {
      const takes = Object.keys(INVALIDATE_TYPES[kind]).join(', ')
      throw new IommuctlError(
        'BAD_REQUEST',
        `A${kind === 'hwpt' ? 'n HWPT' : ' vIOMMU'} takes ${takes} invalidations, not ${type}.`,
        {
          exit: ExitCode.usage,
        },
      )
    }
    if (entries.length % spec.entryLen) {
      throw new IommuctlError(
        'BAD_REQUEST',
        `${entries.length} bytes are not whole ${type} entries of ${spec.entryLen} bytes.`,
        {exit: ExitCode.usage},
      )
    }
    const requested = entries.length / spec.entryLen
    const handled = this.iommufd.invalidate(id, {dataType: spec.type, entryLen: spec.entryLen, entries})
    return {handled, requested}
  }

  attach(bdf: string, ptRef: string | number, pasid?: number): number {
    const pt = this.resolve(ptRef)
    this.device(bdf)
    const d = this.devices.get(bdf)!
    const got = d.cdev.attach(pt, pasid)
    if (pasid === undefined) d.rid = {pt: got, to: pt}
    else d.pasids.set(pasid, {pt: got, to: pt})
    return got
  }

  detach(bdf: string, pasid?: number): void {
    const d = this.devices.get(bdf)
    const attached = d && (pasid === undefined ? d.rid !== null : d.pasids.has(pasid))
    if (!d || !attached) {
      throw new IommuctlError(
        'NOT_ATTACHED',
        `${bdf}${pasid === undefined ? '' : ` PASID ${pasid}`} is not attached in this session.`,
      )
    }
    d.cdev.detach(pasid)
    if (pasid === undefined) d.rid = null
    else d.pasids.delete(pasid)
  }

  /** What of this session uses an object: devices attached to it, objects made on it. */
  private usersOf(id: number): string[] {
    return [
      ...[...this.devices]
        .filter(([, d]) => [d.rid, ...d.pasids.values()].some((a) => a && (a.to === id || a.pt === id)))
        .map(([b]) => b),
      ...[...this.hwpts].filter(([, h]) => h.parent === id).map(([h]) => `hwpt ${h}`),
      ...[...this.viommus].filter(([, v]) => v.hwpt === id).map(([v]) => `viommu ${v}`),
      ...[...this.vdevices].filter(([, v]) => v.viommu === id).map(([v]) => `vdevice ${v}`),
      ...[...this.veventqs].filter(([, v]) => v.viommu === id).map(([v]) => `veventq ${v}`),
      ...[...this.hwpts].filter(([, h]) => h.faultQueue === id).map(([h]) => `hwpt ${h}`),
    ]
  }

  /**
   * Destroys an IOAS, HWPT, vIOMMU, vDEVICE, fault queue or vEVENTQ, refusing while something of
   * this session still uses it. A queue's descriptor is closed first (while it is open the kernel
   * counts it a user: EBUSY).
   */
  destroy(ref: string | number): void {
    const id = this.resolve(ref, ['ioas', 'hwpt', 'viommu', 'vdevice', 'fault-queue', 'veventq'])
    const users = this.usersOf(id)
    if (users.length) {
      throw new IommuctlError('IN_USE', `Object ${id} is in use by ${users.join(', ')}.`, {
        suggestion: 'Detach the devices, and destroy what was made on it, first.',
      })
    }
    this.queueOf(id)?.close()
    this.iommufd.destroy(id)
    this.forget(id)
  }

  private queueOf(id: number): KernelFaultQueue | KernelVEventQueue | undefined {
    return this.faultQueues.get(id)?.queue ?? this.veventqs.get(id)?.queue
  }

  /** Drops an object from the record once the kernel has destroyed it, releasing an IOAS's memory. */
  private forget(id: number): void {
    for (const m of this.ioases.get(id)?.maps ?? []) {
      m.memoryOwner.release()
      this.pinned -= m.bytes
    }
    this.ioases.delete(id)
    this.hwpts.delete(id)
    this.viommus.delete(id)
    this.vdevices.delete(id)
    this.faultQueues.delete(id)
    this.veventqs.delete(id)
    for (const [n, v] of this.names) if (v === id) this.names.delete(n)
  }

  state(): EngineState {
    const objects: SessionObject[] = []
    const base = {
      name: null,
      parent: null,
      bdf: null,
      flags: [],
      type: null,
      faultQueue: null,
      depth: null,
      virtId: null,
      attachedTo: null,
      pasids: [],
      mappings: [],
      hugePages: null,
      fd: null,
    }
    for (const [bdf, d] of this.devices) {
      objects.push({
        ...base,
        id: d.devId,
        kind: 'device',
        bdf,
        attachedTo: d.rid?.pt ?? null,
        pasids: [...d.pasids].map(([pasid, a]) => ({pasid, pt: a.pt})),
        fd: d.cdev.fd,
      })
    }
    for (const [id, x] of this.ioases) {
      objects.push({
        ...base,
        id,
        kind: 'ioas',
        name: x.name,
        mappings: x.maps.map(record),
        hugePages: this.hugePages(id),
      })
    }
    for (const [id, h] of this.hwpts) {
      objects.push({
        ...base,
        id,
        kind: 'hwpt',
        name: h.name,
        parent: h.parent,
        bdf: h.bdf,
        flags: h.flags,
        type: h.type,
        faultQueue: h.faultQueue,
      })
    }
    for (const [id, q] of this.faultQueues) {
      objects.push({...base, id, kind: 'fault-queue', name: q.name, fd: q.queue.fd})
    }
    for (const [id, q] of this.veventqs) {
      objects.push({
        ...base,
        id,
        kind: 'veventq',
        name: q.name,
        parent: q.viommu,
        type: q.type,
        depth: q.depth,
        fd: q.queue.fd,
      })
    }
    for (const [id, v] of this.viommus) {
      objects.push({...base, id, kind: 'viommu', name: v.name, parent: v.hwpt, bdf: v.bdf, type: v.type})
    }
    for (const [id, v] of this.vdevices) {
      objects.push({
        ...base,
        id,
        kind: 'vdevice',
        name: v.name,
        parent: v.viommu,
        bdf: v.bdf,
        virtId: hex(v.virtId),
      })
    }
    objects.sort((a, b) => a.id - b.id)
    return {
      iommufd: this.iommufd.fd,
      objects,
      pinnedBytes: Number(this.pinned),
      maxPinnedBytes: this.maxPinned === null ? null : Number(this.maxPinned),
    }
  }

  /**
   * Tears everything down in the reverse of the order it was made: PASIDs then devices detached,
   * vEVENTQs and vDEVICEs destroyed (before their devices are closed, as iommufd.h asks), then
   * HWPTs and vIOMMUs, each once nothing is left on it, then fault queues (each descriptor closed
   * first: the kernel answers what is still waiting in it as invalid), each IOAS's mappings unmapped (their memory released) and the IOAS
   * destroyed, then the devices closed (which unbinds them) and the iommufd closed. Never throws:
   * a step the kernel refuses is skipped, and closing the descriptors undoes whatever is left.
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    const quietly = (fn: () => unknown) => {
      try {
        fn()
      } catch {
        // Closing the descriptors below undoes it.
      }
    }
    const devices = [...this.devices.values()].reverse()
    for (const d of devices) {
      for (const pasid of [...d.pasids.keys()].reverse()) quietly(() => d.cdev.detach(pasid))
      if (d.rid) quietly(() => d.cdev.detach())
    }
    for (const [id, q] of [...this.veventqs].reverse()) {
      q.queue.close()
      quietly(() => this.iommufd.destroy(id))
    }
    this.veventqs.clear()
    for (const id of [...this.vdevices.keys()].reverse()) quietly(() => this.iommufd.destroy(id))
    this.vdevices.clear()
    // Nested HWPTs on vIOMMUs on nest-parent HWPTs: destroy what nothing uses until none is left.
    for (let left = [...this.hwpts.keys(), ...this.viommus.keys()]; left.length;) {
      const free = left.filter((id) => !this.usersOf(id).some((u) => !this.devices.has(u)))
      for (const id of (free.length ? free : left).reverse()) {
        quietly(() => this.iommufd.destroy(id))
        this.hwpts.delete(id)
        this.viommus.delete(id)
      }
      left = [...this.hwpts.keys(), ...this.viommus.keys()]
    }
    for (const [id, q] of [...this.faultQueues].reverse()) {
      q.queue.close()
      quietly(() => this.iommufd.destroy(id))
    }
    this.faultQueues.clear()
    for (const [id, x] of [...this.ioases].reverse()) {
      for (const m of [...x.maps].reverse()) {
        quietly(() => this.iommufd.unmap(id, BigInt(m.iova), m.bytes))
        m.memoryOwner.release()
      }
      quietly(() => this.iommufd.destroy(id))
    }
    for (const d of devices) d.cdev.close()
    this.iommufd.close()
    this.devices.clear()
    this.ioases.clear()
    this.names.clear()
    this.pinned = 0n
  }

  private claim(name: string | null): void {
    if (name && this.names.has(name)) {
      throw new IommuctlError(
        'NAME_TAKEN',
        `The name ${name} is taken in this session (object ${this.names.get(name)}).`,
        {
          exit: ExitCode.usage,
        },
      )
    }
  }
}

function record(m: MappingRecord): MappingRecord {
  return {
    name: m.name,
    iova: m.iova,
    length: m.length,
    memory: m.memory,
    readable: m.readable,
    writable: m.writable,
  }
}

/** RLIMIT_MEMLOCK of this process (soft), from /proc/self/limits; null when unlimited. */
export function memlockLimit(): bigint | null {
  return parseMemlock(fs.readFileSync('/proc/self/limits', 'utf8')).soft
}

/** Runs an engine call, turning a failed ioctl into the error a user reads. */
export function explained<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw explain(error)
  }
}
