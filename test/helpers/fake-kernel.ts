// An in-memory twin of the kernel operations the session engine makes (src/session/kernel.ts),
// as rust-vmm's vfio-ioctls tests the objects above its vfio_syscall module with a double. It
// models what drivers/iommu/iommufd/ does and refuses, each rule named beside the kernel code it
// follows (Linux 7.2), and it records what is open so a test can see what a run left behind:
//
// - objects are numbered from 1, the lowest free id first (xa_init_flags XA_FLAGS_ALLOC1, main.c);
//   an id that is not there, or not of the kind the ioctl wants, is ENOENT (iommufd_get_object);
// - IOMMU_DESTROY of an object something still uses is EBUSY (iommufd_object_remove: users > 1):
//   an IOAS while an HWPT is made on it, an HWPT while a device or PASID is attached to it;
// - IOMMU_IOAS_MAP needs READABLE or WRITEABLE (EINVAL), a page-aligned IOVA (EINVAL), no
//   overflow (EOVERFLOW), and no mapping already in the range (EEXIST, iopt_check_iova);
// - IOMMU_IOAS_UNMAP of a range that splits a mapping, or holds none, is ENOENT
//   (iopt_unmap_iova_range, iommufd_ioas_unmap); iova 0 with length U64_MAX unmaps everything;
// - pages are pinned when the IOAS has a page table (an HWPT made on it, or the one the kernel
//   makes when a device is attached to the IOAS itself, device.c iommufd_device_auto_get_domain),
//   and charged to RLIMIT_MEMLOCK: over it is ENOMEM (pages.c incr_user_locked_vm), unless the
//   process has CAP_IPC_LOCK (memlock null here). Pinning memory this process no longer maps is
//   EFAULT (pin_user_pages);
// - HWPT flags the kernel does not know, or dirty tracking on an IOMMU without it, are EOPNOTSUPP
//   (hw_pagetable.c iommufd_hwpt_paging_alloc); a PASID attach needs an HWPT allocated with
//   IOMMU_HWPT_ALLOC_PASID (EINVAL, device.c iommufd_hwpt_pasid_compat);
// - nesting (hw_pagetable.c iommufd_hwpt_alloc, iommufd_hwpt_nested_alloc; viommu.c): data_type
//   NONE with data, or a type without, is EINVAL; a pt_id that names no IOAS, HWPT or vIOMMU is
//   EINVAL; NEST_PARENT on an IOMMU without nesting, a data type its driver does not take, or
//   flags other than FAULT_ID_VALID and PASID on a nested HWPT are EOPNOTSUPP; a parent that is
//   not a nest-parent paging HWPT (an automatic one, a nested one, one without the flag) is EINVAL,
//   as is a vIOMMU on another IOMMU; data shorter than the driver's minimum is EINVAL and longer
//   with non-zero bytes past its struct E2BIG (iommu_copy_struct_from_user);
// - IOMMU_VIOMMU_ALLOC of type 0 or one the driver lacks is EOPNOTSUPP, on an HWPT that is not
//   paging ENOENT, not nest-parent EINVAL; IOMMU_VDEVICE_ALLOC on another IOMMU's vIOMMU is
//   EINVAL, for a device that has one, or a virtual id the vIOMMU has, EEXIST;
// - IOMMU_HWPT_INVALIDATE (iommufd_hwpt_invalidate) on what is neither a nested HWPT nor a
//   vIOMMU is EINVAL, as is a data type the object does not take; entries are handled in order
//   until one is refused (selftest.c mock_domain_cache_invalidate_user, intel/nested.c
//   intel_nested_cache_invalidate_user), and the count handled comes back either way;
// - IOMMU_IOAS_IOVA_RANGES answers the IOVA space less the reserved regions of the devices
//   attached to the IOAS's page tables (io_pagetable.c iopt_table_enforce_dev_resv_regions);
// - a device is bound once (VFIO_DEVICE_BIND_IOMMUFD again is EINVAL); the bind holds the
//   iommufd: its objects go when the descriptor and every bound device are closed.
import {constants} from 'node:os'

import assert from 'node:assert/strict'

import {IommuctlError} from '../../src/errors.js'
import {explained} from '../../src/session/engine.js'
import {encodePageResponse, PageFault, PageResponse, VEvent, VEventDecoder} from '../../src/iommufd/events.js'
import type {HwInfo, InvalidateRequest, IovaRange, MapRequest, UserData} from '../../src/iommufd/iommufd.js'
import {PartialSyscallError, SyscallError} from '../../src/native/errors.js'
import * as T from '../../src/native/uapi/iommufd-test.js'
import * as U from '../../src/native/uapi/iommufd.js'
import type {
  FileMemory,
  Kernel,
  KernelDevice,
  KernelFaultQueue,
  KernelIommufd,
  KernelVEventQueue,
  UserMemory,
} from '../../src/session/kernel.js'

const E = constants.errno
const PAGE = 4096n
const U64_MAX = (1n << 64n) - 1n
const KNOWN_HWPT_FLAGS =
  U.IOMMU_HWPT_ALLOC_NEST_PARENT | U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING | U.IOMMU_HWPT_ALLOC_PASID

/**
 * Each nested data type a fake IOMMU can take: its struct's size, the least the driver reads
 * (offsetofend of the member iommu_copy_struct_from_user names), and the invalidation type its
 * HWPTs take, with the per-entry rule of the driver's cache_invalidate_user.
 */
const NESTED: Record<
  number,
  {size: number; min: number; invalidate: number; entry: (b: Buffer) => number; viommuOnly?: boolean}
> = {
  [T.IOMMU_HWPT_DATA_SELFTEST]: {
    size: T.iommu_hwpt_selftest.size,
    min: T.iommu_hwpt_selftest.offsetOfEnd('iotlb'),
    invalidate: T.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
    entry: (b) => {
      const e = T.iommu_hwpt_invalidate_selftest.decode(b)
      if (e.flags & ~T.IOMMU_TEST_INVALIDATE_FLAG_ALL) return E.EOPNOTSUPP
      return e.iotlb_id > T.MOCK_NESTED_DOMAIN_IOTLB_ID_MAX ? E.EINVAL : 0
    },
  },
  [U.IOMMU_HWPT_DATA_VTD_S1]: {
    size: U.iommu_hwpt_vtd_s1.size,
    min: U.iommu_hwpt_vtd_s1.offsetOfEnd('__reserved'),
    invalidate: U.IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,
    entry: (b) => {
      const e = U.iommu_hwpt_vtd_s1_invalidate.decode(b)
      if (e.flags & ~U.IOMMU_VTD_INV_FLAGS_LEAF || e.__reserved) return E.EOPNOTSUPP
      return e.addr % PAGE || (e.npages === U64_MAX && e.addr) ? E.EINVAL : 0
    },
  },
  // arm-smmu-v3-iommufd.c arm_vsmmu_alloc_domain_nested: made on a vIOMMU only; its caches are
  // invalidated through the vIOMMU, so the nested HWPT takes no invalidation of its own.
  [U.IOMMU_HWPT_DATA_ARM_SMMUV3]: {
    size: U.iommu_hwpt_arm_smmuv3.size,
    min: U.iommu_hwpt_arm_smmuv3.offsetOfEnd('ste'),
    invalidate: -1,
    entry: () => E.EOPNOTSUPP,
    viommuOnly: true,
  },
}

export interface FakeDeviceSpec {
  bdf: string
  /** The IOMMU can track dirty pages for it (IOMMU_CAP_DIRTY_TRACKING). */
  dirtyTracking?: boolean
  /** The IOMMU instance it is behind; 'iommu0' unless said. */
  iommu?: string
  /** Nested HWPT data types its IOMMU's driver takes (IOMMU_HWPT_DATA_*); none: no nesting. */
  nestedData?: number[]
  /** vIOMMU types its IOMMU's driver offers (IOMMU_VIOMMU_TYPE_*). */
  viommuTypes?: number[]
  /** What IOMMU_GET_HW_INFO answers for it: the type and its data; IOMMU_HW_INFO_TYPE_NONE unless said. */
  hwInfo?: {type: number; data: Buffer}
  /** Its reserved regions (the MSI window...), taken out of an IOAS it is attached to. */
  reserved?: IovaRange[]
  /**
   * A device with no IOMMU of its own (an mdev: bdf is then its UUID), which joins an IOAS through
   * the emulated path (vfio_iommufd_emulated_attach_ioas): an access on the IOAS, no HWPT.
   */
  emulated?: boolean
}

interface Area {
  iova: bigint
  length: bigint
  /** The user address (IOMMU_IOAS_MAP) or the descriptor (MAP_FILE) behind it. */
  source: {address: bigint} | {fd: number}
  pinned: boolean
}

type FakeObject =
  | {kind: 'ioas'; areas: Area[]; hugePages: boolean}
  // ioas: the IOAS under it (a nested HWPT's parent's); nested: what a nested HWPT is made on.
  | {kind: 'hwpt'; ioas: number; flags: number; auto: boolean; nested: {on: number; dataType: number} | null}
  | {kind: 'viommu'; hwpt: number; iommu: string; virtIds: Map<bigint, number>}
  | {kind: 'vdevice'; viommu: number; dev: number; virtId: bigint}
  | {kind: 'device'; bdf: string; vdevice: number | null}
  | {kind: 'fault-queue'; queue: FakeFaultQueue}
  | {kind: 'veventq'; viommu: number; type: number; queue: FakeVEventQueue}

/** VEVENTQ_MAX_DEPTH (drivers/iommu/iommufd/iommufd_private.h). */
const VEVENTQ_MAX_DEPTH = 1 << 19

/**
 * A fault queue's descriptor (eventq.c): page requests a test delivers are read once, whole; a
 * group's last request waits for its answer, and an answer to a cookie nothing waits on is
 * EINVAL. While the descriptor is open the queue is busy (IOMMU_DESTROY: EBUSY).
 */
export class FakeFaultQueue implements KernelFaultQueue {
  readonly queued: PageFault[] = []
  readonly waiting = new Set<number>()
  readonly answers: {cookie: number; response: PageResponse}[] = []
  open = true

  constructor(
    readonly id: number,
    readonly fd: number,
    private readonly release: () => void,
  ) {}

  /** What the IOMMU driver does on a device's page request (iommufd_fault_iopf_handler). */
  deliver(fault: PageFault): void {
    this.queued.push(fault)
  }

  read(max = 64): PageFault[] {
    if (!this.open) throw new SyscallError('read of the fault queue', E.EBADF)
    const out = this.queued.splice(0, max)
    for (const f of out) if (f.lastPage) this.waiting.add(f.cookie)
    return out
  }

  respond(cookie: number, response: PageResponse): void {
    const op = `page response to fault cookie ${cookie}`
    if (!this.open) throw new SyscallError(op, E.EBADF)
    encodePageResponse(cookie, response)
    if (!this.waiting.delete(cookie)) throw new SyscallError(op, E.EINVAL)
    this.answers.push({cookie, response})
  }

  close(): void {
    if (!this.open) return
    this.open = false
    this.release()
  }
}

/**
 * A vEVENTQ's descriptor: events a test reports are queued with the next sequence; past the
 * depth they are lost and a lost-events header stands for them (iommufd_viommu_report_event).
 * Read through the real decoder, from the bytes the kernel would give.
 */
export class FakeVEventQueue implements KernelVEventQueue {
  private bytes: Buffer[] = []
  private count = 0
  private sequence = 0
  private lostHeader = false
  private lost = 0
  private readonly decoder: VEventDecoder
  open = true

  constructor(
    readonly id: number,
    readonly fd: number,
    readonly depth: number,
    readonly dataLen: number,
    private readonly release: () => void,
  ) {
    this.decoder = new VEventDecoder(dataLen)
  }

  report(data: Buffer): void {
    assert.equal(data.length, this.dataLen)
    const seq = this.sequence++ & 0x7fff_ffff
    if (this.count >= this.depth) {
      // The lost-events header stands for the newest event dropped.
      this.lostHeader = true
      this.lost = seq
      return
    }
    this.bytes.push(U.iommufd_vevent_header.encode({flags: 0, sequence: seq}), data)
    this.count++
  }

  read(max = 64): VEvent[] {
    if (!this.open) throw new SyscallError('read of the vEVENTQ', E.EBADF)
    const taken = this.bytes.splice(0, 2 * max)
    this.count -= taken.length / 2
    if (this.lostHeader && taken.length / 2 < max) {
      taken.push(
        U.iommufd_vevent_header.encode({flags: U.IOMMU_VEVENTQ_FLAG_LOST_EVENTS, sequence: this.lost}),
      )
      this.lostHeader = false
    }
    return this.decoder.decode(Buffer.concat(taken))
  }

  close(): void {
    if (!this.open) return
    this.open = false
    this.release()
  }
}

export class FakeKernel implements Kernel {
  /** Every call the kernel accepted, in order, as `what object` lines. */
  readonly log: string[] = []
  /** Descriptors open now: number → what it is. */
  readonly fds = new Map<number, string>()
  /** Memory this process has mapped: address → length. */
  readonly memory = new Map<bigint, bigint>()
  /** Bytes charged to RLIMIT_MEMLOCK now (user->locked_vm). */
  locked = 0n
  /** The next call whose log line starts with a key fails with that errno (a fault to inject). */
  readonly failNext = new Map<string, number>()
  readonly iommufds: FakeIommufd[] = []
  private nextFd = 3
  private nextAddress = 0x7f00_0000_0000n
  readonly files = new Map<number, {size: bigint}>()

  constructor(
    readonly devices: FakeDeviceSpec[] = [],
    /** RLIMIT_MEMLOCK in bytes; null for a process with CAP_IPC_LOCK, which is not charged. */
    readonly memlock: bigint | null = null,
  ) {}

  /** A call's gate: refuses when a failure was injected for it, else logs it. */
  accept(line: string, op: string): void {
    for (const [key, errno] of this.failNext) {
      if (line.startsWith(key)) {
        this.failNext.delete(key)
        throw new SyscallError(op, errno)
      }
    }
    this.log.push(line)
  }

  openFd(what: string): number {
    let fd = this.nextFd
    while (this.fds.has(fd)) fd++
    this.fds.set(fd, what)
    return fd
  }

  closeFd(fd: number): void {
    this.fds.delete(fd)
  }

  /** What a run left behind: descriptors, mapped memory, pinned bytes, live objects. */
  leftovers(): {fds: string[]; memory: number; locked: bigint; objects: number} {
    return {
      fds: [...this.fds.values()],
      memory: this.memory.size,
      locked: this.locked,
      objects: this.iommufds.reduce((n, i) => n + i.objects.size, 0),
    }
  }

  charge(bytes: bigint, op: string): void {
    if (this.memlock === null) return
    if (this.locked + bytes > this.memlock) throw new SyscallError(op, E.ENOMEM)
    this.locked += bytes
  }

  uncharge(bytes: bigint): void {
    if (this.memlock !== null) this.locked -= bytes
  }

  openIommufd(): KernelIommufd {
    this.accept('open /dev/iommu', 'open /dev/iommu')
    const i = new FakeIommufd(this, this.openFd('/dev/iommu'))
    this.iommufds.push(i)
    return i
  }

  deviceNode(bdf: string): string {
    const i = this.devices.findIndex((d) => d.bdf === bdf)
    if (i < 0) throw new IommuctlError('NO_SUCH_DEVICE', `No PCI device ${bdf}.`)
    return `/dev/vfio/devices/vfio${i}`
  }

  openDevice(node: string): KernelDevice {
    const spec = this.devices[Number(node.replace(/^\/dev\/vfio\/devices\/vfio/, ''))]
    if (!spec) throw new SyscallError(`open ${node}`, E.ENOENT)
    this.accept(`open ${spec.bdf}`, `open ${node}`)
    return new FakeDevice(this, spec, this.openFd(node))
  }

  anonymous(length: bigint): UserMemory {
    this.accept('mmap', 'mmap')
    const address = this.nextAddress
    this.nextAddress += ((length + PAGE - 1n) / PAGE) * PAGE + PAGE
    this.memory.set(address, length)
    return {address, length, unmap: () => void this.memory.delete(address)}
  }

  memfd(length: bigint, hugetlb: boolean): FileMemory {
    this.accept(hugetlb ? 'memfd hugetlb' : 'memfd', 'memfd_create')
    return this.fileMemory(this.openFd(hugetlb ? 'memfd:hugetlb' : 'memfd'), length)
  }

  openFile(path: string, _writable: boolean): FileMemory {
    this.accept(`open ${path}`, `open ${path}`)
    return this.fileMemory(this.openFd(path), U64_MAX)
  }

  private fileMemory(fd: number, size: bigint): FileMemory {
    this.files.set(fd, {size})
    let open = true
    return {
      fd,
      close: () => {
        if (!open) return
        open = false
        this.files.delete(fd)
        this.closeFd(fd)
      },
    }
  }

  /** Whether memory behind a source is still there to pin. */
  present(source: Area['source'], length: bigint): boolean {
    if ('fd' in source) return this.files.has(source.fd)
    for (const [address, size] of this.memory) {
      if (source.address >= address && source.address + length <= address + size) return true
    }
    return false
  }
}

export class FakeIommufd implements KernelIommufd {
  readonly objects = new Map<number, FakeObject>()
  /** Devices bound to this iommufd: it lives while any is. */
  readonly bound = new Set<FakeDevice>()
  open = true

  constructor(
    private readonly k: FakeKernel,
    readonly fd: number,
  ) {}

  /** The lowest id no object has (the kernel's xarray allocation). */
  private freeId(): number {
    let id = 1
    while (this.objects.has(id)) id++
    return id
  }

  private add(o: FakeObject): number {
    const id = this.freeId()
    this.objects.set(id, o)
    return id
  }

  get<K extends FakeObject['kind']>(id: number, kind: K, op: string): Extract<FakeObject, {kind: K}> {
    const o = this.objects.get(id)
    if (!o || o.kind !== kind) throw new SyscallError(op, E.ENOENT)
    return o as Extract<FakeObject, {kind: K}>
  }

  /** Whether the IOAS has a page table, so that its pages are pinned. */
  private hasDomain(ioas: number): boolean {
    return [...this.objects.values()].some((o) => o.kind === 'hwpt' && o.ioas === ioas)
  }

  /** Pins every area of an IOAS not pinned yet; on failure unpins what this call pinned. */
  pinAll(ioas: number, op: string): void {
    const done: Area[] = []
    try {
      for (const a of this.get(ioas, 'ioas', op).areas) {
        if (a.pinned) continue
        this.pin(a, op)
        done.push(a)
      }
    } catch (error) {
      for (const a of done) this.unpin(a)
      throw error
    }
  }

  private pin(a: Area, op: string): void {
    if (!this.k.present(a.source, a.length)) throw new SyscallError(op, E.EFAULT)
    this.k.charge(a.length, op)
    a.pinned = true
  }

  private unpin(a: Area): void {
    if (a.pinned) this.k.uncharge(a.length)
    a.pinned = false
  }

  /** After a page table went away: an IOAS with none left has its pages unpinned. */
  unpinIfBare(ioas: number): void {
    const o = this.objects.get(ioas)
    if (o?.kind === 'ioas' && !this.hasDomain(ioas)) for (const a of o.areas) this.unpin(a)
  }

  /** An HWPT (auto: the kernel's own, for a device attached to the IOAS) on an IOAS, pinning it. */
  makeHwpt(ioas: number, flags: number, auto: boolean, op: string): number {
    const id = this.add({kind: 'hwpt', ioas, flags, auto, nested: null})
    try {
      this.pinAll(ioas, op)
    } catch (error) {
      this.objects.delete(id)
      throw error
    }
    return id
  }

  /** Runs fn; when it fails, the call it was part of is taken off the log (the kernel refused it). */
  refusedUnlogged<T>(fn: () => T): T {
    try {
      return fn()
    } catch (error) {
      this.k.log.pop()
      throw error
    }
  }

  /** Users of an object: what makes IOMMU_DESTROY of it EBUSY. */
  private busy(id: number): boolean {
    for (const o of this.objects.values()) {
      if (o.kind === 'hwpt' && (o.nested ? o.nested.on === id : o.ioas === id)) return true
      if ((o.kind === 'viommu' && o.hwpt === id) || (o.kind === 'vdevice' && o.viommu === id)) return true
      if (o.kind === 'veventq' && o.viommu === id) return true
      // An open descriptor holds a user of its queue (iommufd_eventq_init's refcount_inc).
      if (o.kind === 'fault-queue' || o.kind === 'veventq') if (o.queue.id === id && o.queue.open) return true
    }
    for (const f of this.faultOf.values()) if (f === id) return true
    for (const d of this.bound) if (d.usesPt(id)) return true
    return false
  }

  ioasAlloc(): number {
    this.k.accept('alloc ioas', 'IOMMU_IOAS_ALLOC')
    const id = this.add({kind: 'ioas', areas: [], hugePages: true})
    this.k.log[this.k.log.length - 1] = `alloc ioas ${id}`
    return id
  }

  iovaRanges(ioasId: number): IovaRange[] {
    this.get(ioasId, 'ioas', 'IOMMU_IOAS_IOVA_RANGES')
    const pts = [...this.objects].filter(([, o]) => o.kind === 'hwpt' && o.ioas === ioasId).map(([id]) => id)
    const reserved = [...this.bound]
      .filter((d) => pts.some((pt) => d.usesPt(pt)))
      .flatMap((d) => d.spec.reserved ?? [])
      .sort((a, b) => (a.start < b.start ? -1 : 1))
    this.k.accept(`iova-ranges ${ioasId}`, 'IOMMU_IOAS_IOVA_RANGES')
    const ranges: IovaRange[] = []
    let start = 0n
    for (const r of reserved) {
      if (r.start > start) ranges.push({start, last: r.start - 1n})
      if (r.last + 1n > start) start = r.last + 1n
    }
    if (start <= U64_MAX) ranges.push({start, last: U64_MAX})
    return ranges
  }

  allowIovas(ioasId: number, _ranges: IovaRange[]): void {
    this.get(ioasId, 'ioas', 'IOMMU_IOAS_ALLOW_IOVAS')
    this.k.accept(`allow-iovas ${ioasId}`, 'IOMMU_IOAS_ALLOW_IOVAS')
  }

  option(option: number, op: number, objectId = 0, value = 0n): bigint {
    if (option !== U.IOMMU_OPTION_HUGE_PAGES) throw new SyscallError('IOMMU_OPTION', E.EOPNOTSUPP)
    const ioas = this.get(objectId, 'ioas', 'IOMMU_OPTION')
    if (op === U.IOMMU_OPTION_OP_GET) return ioas.hugePages ? 1n : 0n
    if (value > 1n) throw new SyscallError('IOMMU_OPTION', E.EINVAL)
    this.k.accept(`huge-pages ${objectId} ${value}`, 'IOMMU_OPTION')
    ioas.hugePages = value === 1n
    return value
  }

  map(ioasId: number, m: MapRequest): bigint {
    return this.mapArea('IOMMU_IOAS_MAP', ioasId, m.length, m.iova, m, {address: m.userVa})
  }

  mapFile: KernelIommufd['mapFile'] = (ioasId, fd, start, length, iova, access = {}) => {
    const file = this.k.files.get(fd)
    if (!file) throw new SyscallError('IOMMU_IOAS_MAP_FILE', E.EBADF)
    if (start + length > file.size) throw new SyscallError('IOMMU_IOAS_MAP_FILE', E.EINVAL)
    return this.mapArea('IOMMU_IOAS_MAP_FILE', ioasId, length, iova, access, {fd})
  }

  private mapArea(
    op: string,
    ioasId: number,
    length: bigint,
    iova: bigint | undefined,
    access: {writeable?: boolean; readable?: boolean},
    source: Area['source'],
  ): bigint {
    const ioas = this.get(ioasId, 'ioas', op)
    if (access.readable === false && access.writeable === false) throw new SyscallError(op, E.EINVAL)
    if (length === 0n) throw new SyscallError(op, E.EINVAL)
    const overlaps = (at: bigint) => ioas.areas.some((a) => at < a.iova + a.length && a.iova < at + length)
    let at: bigint
    if (iova !== undefined) {
      if (iova % PAGE) throw new SyscallError(op, E.EINVAL)
      if (iova + length - 1n > U64_MAX) throw new SyscallError(op, E.EOVERFLOW)
      if (overlaps(iova)) throw new SyscallError(op, E.EEXIST)
      at = iova
    } else {
      // The lowest free page-aligned range; the kernel's choice differs, and callers take its answer.
      at = 0n
      for (const a of [...ioas.areas].sort((x, y) => (x.iova < y.iova ? -1 : 1))) {
        if (!overlaps(at)) break
        at = ((a.iova + a.length + PAGE - 1n) / PAGE) * PAGE
      }
      if (overlaps(at) || at + length - 1n > U64_MAX) throw new SyscallError(op, E.ENOSPC)
    }
    const area: Area = {iova: at, length, source, pinned: false}
    if (this.hasDomain(ioasId)) this.pin(area, op)
    try {
      this.k.accept(`map ioas ${ioasId} 0x${at.toString(16)}+0x${length.toString(16)}`, op)
    } catch (error) {
      this.unpin(area)
      throw error
    }
    ioas.areas.push(area)
    return at
  }

  unmap(ioasId: number, iova: bigint, length: bigint): bigint {
    const op = 'IOMMU_IOAS_UNMAP'
    const ioas = this.get(ioasId, 'ioas', op)
    const all = iova === 0n && length === U64_MAX
    if (!all && length === 0n) throw new SyscallError(op, E.EINVAL)
    const last = all ? U64_MAX : iova + length - 1n
    if (last > U64_MAX) throw new SyscallError(op, E.EOVERFLOW)
    const hit = ioas.areas.filter((a) => a.iova <= last && iova <= a.iova + a.length - 1n)
    if (hit.some((a) => a.iova < iova || a.iova + a.length - 1n > last)) throw new SyscallError(op, E.ENOENT)
    if (!all && hit.length === 0) throw new SyscallError(op, E.ENOENT)
    this.k.accept(`unmap ioas ${ioasId} 0x${iova.toString(16)}+0x${length.toString(16)}`, op)
    for (const a of hit) this.unpin(a)
    ioas.areas = ioas.areas.filter((a) => !hit.includes(a))
    return hit.reduce((n, a) => n + a.length, 0n)
  }

  private spec(devId: number, op: string): FakeDeviceSpec {
    const dev = this.get(devId, 'device', op)
    return this.k.devices.find((d) => d.bdf === dev.bdf)!
  }

  /** HWPTs made with IOMMU_HWPT_FAULT_ID_VALID, and their fault queue. */
  readonly faultOf = new Map<number, number>()

  hwptAlloc(devId: number, ptId: number, flags = 0, data?: UserData, faultId = 0): number {
    const op = 'IOMMU_HWPT_ALLOC'
    if (data && (data.type === U.IOMMU_HWPT_DATA_NONE || !data.bytes.length))
      throw new SyscallError(op, E.EINVAL)
    if (!(flags & U.IOMMU_HWPT_FAULT_ID_VALID)) return this.hwptAllocOn(devId, ptId, flags, data)
    // iommufd_hwpt_paging_alloc: a fault queue with NEST_PARENT is EOPNOTSUPP; then
    // iommufd_hwpt_alloc's iommufd_get_fault: ENOENT for an id that is no fault queue.
    if (flags & U.IOMMU_HWPT_ALLOC_NEST_PARENT) throw new SyscallError(op, E.EOPNOTSUPP)
    this.get(faultId, 'fault-queue', op)
    const id = this.hwptAllocOn(devId, ptId, flags & ~U.IOMMU_HWPT_FAULT_ID_VALID, data)
    this.faultOf.set(id, faultId)
    return id
  }

  private hwptAllocOn(devId: number, ptId: number, flags: number, data?: UserData): number {
    const op = 'IOMMU_HWPT_ALLOC'
    const spec = this.spec(devId, op)
    const pt = this.objects.get(ptId)
    if (!pt || (pt.kind !== 'ioas' && pt.kind !== 'hwpt' && pt.kind !== 'viommu'))
      throw new SyscallError(op, E.EINVAL)
    if (pt.kind !== 'ioas') return this.nestedAlloc(spec, ptId, pt, flags, data)
    if (flags & ~KNOWN_HWPT_FLAGS) throw new SyscallError(op, E.EOPNOTSUPP)
    if (data) throw new SyscallError(op, E.EOPNOTSUPP)
    if (flags & U.IOMMU_HWPT_ALLOC_DIRTY_TRACKING && !spec.dirtyTracking)
      throw new SyscallError(op, E.EOPNOTSUPP)
    if (flags & U.IOMMU_HWPT_ALLOC_NEST_PARENT && !spec.nestedData?.length)
      throw new SyscallError(op, E.EOPNOTSUPP)
    this.k.accept(`alloc hwpt on ioas ${ptId}`, op)
    const id = this.refusedUnlogged(() => this.makeHwpt(ptId, flags, false, op))
    this.k.log[this.k.log.length - 1] = `alloc hwpt ${id} on ioas ${ptId}`
    return id
  }

  /** A nested HWPT on a nest-parent HWPT or a vIOMMU (iommufd_hwpt_nested_alloc, iommufd_viommu_alloc_hwpt_nested). */
  private nestedAlloc(
    spec: FakeDeviceSpec,
    ptId: number,
    pt: Extract<FakeObject, {kind: 'hwpt' | 'viommu'}>,
    flags: number,
    data: UserData | undefined,
  ): number {
    const op = 'IOMMU_HWPT_ALLOC'
    if (
      flags & ~(U.IOMMU_HWPT_FAULT_ID_VALID | U.IOMMU_HWPT_ALLOC_PASID) ||
      !data ||
      !spec.nestedData?.length
    )
      throw new SyscallError(op, E.EOPNOTSUPP)
    const parentId = pt.kind === 'viommu' ? pt.hwpt : ptId
    const parent = this.get(parentId, 'hwpt', op)
    if (pt.kind === 'viommu' && pt.iommu !== (spec.iommu ?? 'iommu0')) throw new SyscallError(op, E.EINVAL)
    if (parent.auto || parent.nested || !(parent.flags & U.IOMMU_HWPT_ALLOC_NEST_PARENT))
      throw new SyscallError(op, E.EINVAL)
    const type = NESTED[data.type]
    if (!type || !spec.nestedData.includes(data.type) || (type.viommuOnly && pt.kind !== 'viommu'))
      throw new SyscallError(op, E.EOPNOTSUPP)
    if (data.bytes.length < type.min) throw new SyscallError(op, E.EINVAL)
    if (data.bytes.subarray(type.size).some((b) => b !== 0)) throw new SyscallError(op, E.E2BIG)
    this.k.accept(`alloc nested hwpt on ${pt.kind} ${ptId}`, op)
    const id = this.add({
      kind: 'hwpt',
      ioas: parent.ioas,
      flags,
      auto: false,
      nested: {on: ptId, dataType: data.type},
    })
    this.k.log[this.k.log.length - 1] = `alloc nested hwpt ${id} on ${pt.kind} ${ptId}`
    return id
  }

  invalidate(hwptId: number, req: InvalidateRequest): number {
    const op = 'IOMMU_HWPT_INVALIDATE'
    const requested = req.entryLen ? req.entries.length / req.entryLen : 0
    const refuse = (errno: number, done = 0) => new PartialSyscallError(op, errno, done, requested)
    if (requested && (!req.entryLen || req.entryLen > 4096 || requested > 1 << 19)) throw refuse(E.EINVAL)
    const o = this.objects.get(hwptId)
    if (!o) throw refuse(E.ENOENT)
    if (o.kind !== 'hwpt' || !o.nested) {
      if (o.kind === 'viommu') throw refuse(E.EOPNOTSUPP)
      throw refuse(E.EINVAL)
    }
    const type = NESTED[o.nested.dataType]!
    if (req.dataType !== type.invalidate) throw refuse(E.EINVAL)
    for (let i = 0; i < requested; i++) {
      const errno = type.entry(req.entries.subarray(i * req.entryLen, (i + 1) * req.entryLen))
      if (errno) throw refuse(errno, i)
    }
    this.k.accept(`invalidate hwpt ${hwptId} ${requested}`, op)
    return requested
  }

  viommuAlloc(devId: number, hwptId: number, type: number, data?: Buffer): {id: number; data: Buffer} {
    const op = 'IOMMU_VIOMMU_ALLOC'
    if (type === U.IOMMU_VIOMMU_TYPE_DEFAULT) throw new SyscallError(op, E.EOPNOTSUPP)
    const spec = this.spec(devId, op)
    if (!spec.viommuTypes?.includes(type)) throw new SyscallError(op, E.EOPNOTSUPP)
    const hwpt = this.get(hwptId, 'hwpt', op)
    if (hwpt.nested) throw new SyscallError(op, E.ENOENT)
    if (!(hwpt.flags & U.IOMMU_HWPT_ALLOC_NEST_PARENT)) throw new SyscallError(op, E.EINVAL)
    this.k.accept(`alloc viommu on hwpt ${hwptId}`, op)
    const id = this.add({kind: 'viommu', hwpt: hwptId, iommu: spec.iommu ?? 'iommu0', virtIds: new Map()})
    this.k.log[this.k.log.length - 1] = `alloc viommu ${id} on hwpt ${hwptId}`
    return {id, data: data ?? Buffer.alloc(0)}
  }

  faultQueueAlloc(): FakeFaultQueue {
    const op = 'IOMMU_FAULT_QUEUE_ALLOC'
    this.k.accept('alloc fault queue', op)
    const id = this.freeId()
    const fd = this.k.openFd('fault queue')
    const queue = new FakeFaultQueue(id, fd, () => this.k.closeFd(fd))
    this.objects.set(id, {kind: 'fault-queue', queue})
    this.k.log[this.k.log.length - 1] = `alloc fault queue ${id}`
    return queue
  }

  veventqAlloc(viommuId: number, type: number, depth: number, dataLen = 0): FakeVEventQueue {
    const op = 'IOMMU_VEVENTQ_ALLOC'
    if (type === U.IOMMU_VEVENTQ_TYPE_DEFAULT) throw new SyscallError(op, E.EOPNOTSUPP)
    if (!depth || depth > VEVENTQ_MAX_DEPTH) throw new SyscallError(op, E.EINVAL)
    this.get(viommuId, 'viommu', op)
    for (const o of this.objects.values())
      if (o.kind === 'veventq' && o.viommu === viommuId && o.type === type)
        throw new SyscallError(op, E.EEXIST)
    this.k.accept(`alloc veventq on viommu ${viommuId}`, op)
    const id = this.freeId()
    const fd = this.k.openFd('vEVENTQ')
    const queue = new FakeVEventQueue(id, fd, depth, dataLen, () => this.k.closeFd(fd))
    this.objects.set(id, {kind: 'veventq', viommu: viommuId, type, queue})
    this.k.log[this.k.log.length - 1] = `alloc veventq ${id} on viommu ${viommuId}`
    return queue
  }

  /** IOMMU_GET_HW_INFO (device.c iommufd_get_hw_info): a bound device's IOMMU, ENOENT for anything else. */
  hwInfo(devId: number): HwInfo {
    const op = 'IOMMU_GET_HW_INFO'
    const spec = this.spec(devId, op)
    this.k.accept(`hw info of ${spec.bdf}`, op)
    const info = spec.hwInfo ?? {type: U.IOMMU_HW_INFO_TYPE_NONE, data: Buffer.alloc(0)}
    return {
      ...info,
      capabilities: spec.dirtyTracking ? BigInt(U.IOMMU_HW_CAP_DIRTY_TRACKING) : 0n,
      maxPasidLog2: 0,
    }
  }

  vdeviceAlloc(viommuId: number, devId: number, virtId: bigint): number {
    const op = 'IOMMU_VDEVICE_ALLOC'
    const viommu = this.get(viommuId, 'viommu', op)
    const dev = this.get(devId, 'device', op)
    if (viommu.iommu !== (this.spec(devId, op).iommu ?? 'iommu0')) throw new SyscallError(op, E.EINVAL)
    if (dev.vdevice !== null || viommu.virtIds.has(virtId)) throw new SyscallError(op, E.EEXIST)
    this.k.accept(`alloc vdevice for ${dev.bdf} as 0x${virtId.toString(16)}`, op)
    const id = this.add({kind: 'vdevice', viommu: viommuId, dev: devId, virtId})
    viommu.virtIds.set(virtId, id)
    dev.vdevice = id
    return id
  }

  destroy(id: number): void {
    const op = `IOMMU_DESTROY of object ${id}`
    const o = this.objects.get(id)
    if (!o) throw new SyscallError(op, E.ENOENT)
    // A bound device's object is the bind's until it is closed (device.c: "a user until unbind").
    if (o.kind === 'device' || this.busy(id)) throw new SyscallError(op, E.EBUSY)
    this.k.accept(`destroy ${o.kind} ${id}`, op)
    this.remove(id)
  }

  /** Removes an object, unpinning what it pinned. */
  remove(id: number): void {
    const o = this.objects.get(id)
    this.objects.delete(id)
    this.faultOf.delete(id)
    if (o?.kind === 'ioas') for (const a of o.areas) this.unpin(a)
    if (o?.kind === 'hwpt') this.unpinIfBare(o.ioas)
    if (o?.kind === 'vdevice') {
      const viommu = this.objects.get(o.viommu)
      if (viommu?.kind === 'viommu') viommu.virtIds.delete(o.virtId)
      const dev = this.objects.get(o.dev)
      if (dev?.kind === 'device') dev.vdevice = null
    }
  }

  close(): void {
    if (!this.open) return
    this.open = false
    this.k.log.push('close iommufd')
    this.k.closeFd(this.fd)
    this.releaseIfDone()
  }

  /** The last reference gone (descriptor and binds), every object goes with it. */
  releaseIfDone(): void {
    if (this.open || this.bound.size) return
    for (const id of [...this.objects.keys()].reverse()) this.remove(id)
  }
}

class FakeDevice implements KernelDevice {
  private iommufd: FakeIommufd | null = null
  private devId = 0
  /** PASID (null: the RID) → the page table in use. */
  private readonly attached = new Map<number | null, number>()
  private closed = false

  constructor(
    private readonly k: FakeKernel,
    readonly spec: FakeDeviceSpec,
    readonly fd: number,
  ) {}

  usesPt(id: number): boolean {
    return [...this.attached.values()].includes(id)
  }

  bind(iommufd: {readonly fd: number}): number {
    const op = 'VFIO_DEVICE_BIND_IOMMUFD'
    if (this.iommufd) throw new SyscallError(op, E.EINVAL)
    const i = this.k.iommufds.find((x) => x.fd === iommufd.fd && x.open)
    if (!i) throw new SyscallError(op, E.EBADF)
    this.k.accept(`bind ${this.spec.bdf}`, op)
    let id = 1
    while (i.objects.has(id)) id++
    i.objects.set(id, {kind: 'device', bdf: this.spec.bdf, vdevice: null})
    i.bound.add(this)
    this.iommufd = i
    this.devId = id
    return id
  }

  attach(ptId: number, pasid?: number): number {
    const op =
      pasid === undefined
        ? 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'
        : `VFIO_DEVICE_ATTACH_IOMMUFD_PT of PASID ${pasid}`
    const i = this.iommufd
    if (!i) throw new SyscallError(op, E.EINVAL)
    const o = i.objects.get(ptId)
    if (!o || o.kind === 'device') throw new SyscallError(op, E.ENOENT)
    const compat = (pt: number | undefined) => {
      const h = pt === undefined ? undefined : i.objects.get(pt)
      return h?.kind === 'hwpt' && (h.flags & U.IOMMU_HWPT_ALLOC_PASID) !== 0
    }
    const where = `${this.spec.bdf}${pasid === undefined ? '' : ` pasid ${pasid}`}`
    let pt: number
    if (this.spec.emulated) {
      // iommufd_access_attach takes an IOAS only (iommufd_get_ioas: ENOENT for any other object);
      // the id stays the IOAS's, and nothing is pinned until the driver pins pages itself.
      if (o.kind !== 'ioas' || pasid !== undefined) throw new SyscallError(op, E.ENOENT)
      this.k.accept(`attach ${where} to ${ptId}`, op)
      pt = ptId
    } else if (o.kind === 'hwpt') {
      const pasids = [...this.attached.keys()].some((p) => p !== null)
      if (
        pasid !== undefined &&
        (!compat(ptId) || (this.attached.has(null) && !compat(this.attached.get(null))))
      )
        throw new SyscallError(op, E.EINVAL)
      if (pasid === undefined && pasids && !compat(ptId)) throw new SyscallError(op, E.EINVAL)
      this.k.accept(`attach ${where} to ${ptId}`, op)
      pt = ptId
    } else {
      // An IOAS: the kernel attaches the device to an automatic HWPT on it, made (and pinning) now
      // unless one is there, and answers with that HWPT's id. It is not PASID-capable.
      if (pasid !== undefined) throw new SyscallError(op, E.EINVAL)
      const have = [...i.objects].find(([, h]) => h.kind === 'hwpt' && h.auto && h.ioas === ptId)
      this.k.accept(`attach ${where} to ${ptId}`, op)
      pt = have ? have[0] : i.refusedUnlogged(() => i.makeHwpt(ptId, 0, true, op))
    }
    const old = this.attached.get(pasid ?? null)
    this.attached.set(pasid ?? null, pt)
    if (old !== undefined) this.dropAuto(old)
    return pt
  }

  /** An automatic HWPT goes when nothing is attached to it. */
  private dropAuto(pt: number): void {
    const i = this.iommufd!
    const h = i.objects.get(pt)
    if (h?.kind !== 'hwpt' || !h.auto) return
    if ([...i.bound].some((d) => d.usesPt(pt))) return
    i.remove(pt)
  }

  detach(pasid?: number): void {
    // Detaching what is not attached succeeds (vfio_iommufd_physical_detach_ioas returns early).
    const old = this.attached.get(pasid ?? null)
    this.k.accept(`detach ${this.spec.bdf}${pasid === undefined ? '' : ` pasid ${pasid}`}`, 'detach')
    if (old === undefined) return
    this.attached.delete(pasid ?? null)
    this.dropAuto(old)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    const i = this.iommufd
    if (i) {
      for (const [pasid, pt] of [...this.attached]) {
        this.attached.delete(pasid)
        this.dropAuto(pt)
      }
      i.objects.delete(this.devId)
      i.bound.delete(this)
      i.releaseIfDone()
    }
    this.k.log.push(`close ${this.spec.bdf}`)
    this.k.closeFd(this.fd)
  }
}

/** The error a user reads, as the CLI prints it: code, message, errno. */
export function refusal(fn: () => unknown): {code: string; message: string; errno?: string} {
  try {
    explained(fn)
  } catch (error) {
    const e = error as IommuctlError
    return {code: e.code ?? '', message: e.message, ...(e.errno ? {errno: e.errno} : {})}
  }
  assert.fail('expected a refusal')
}
