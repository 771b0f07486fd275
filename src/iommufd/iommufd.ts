// The object model over one /dev/iommu descriptor. Every object (IOAS, HWPT, bound device)
// lives inside it and dies with it, so Iommufd owns the descriptor and is the one place that
// closes it.
import {PartialSyscallError, SyscallError} from '../native/errors.js'
import {closeQuietly, ioctlMemory, ioctlStruct, openDevice} from '../native/ioctl.js'
import {AnyStruct, EncodeValues, StructValues} from '../native/layout.js'
import {NativeMemory} from '../native/memory.js'
import * as U from '../native/uapi/iommufd.js'
import {VEVENT_DATA_LENGTH} from './events.js'
import {FaultQueue, VEventQueue} from './queues.js'

export interface IovaRange {
  start: bigint
  last: bigint
}

export interface HwInfo {
  type: number
  data: Buffer
  capabilities: bigint
  maxPasidLog2: number
}

export interface MapRequest {
  /** Address of the memory in this process. */
  userVa: bigint
  length: bigint
  /** A fixed IOVA; the kernel chooses when absent. */
  iova?: bigint
  writeable?: boolean
  readable?: boolean
}

/** Driver-specific data for IOMMU_HWPT_ALLOC or IOMMU_VIOMMU_ALLOC: its type and its bytes. */
export interface UserData {
  type: number
  bytes: Buffer
}

/** An IOMMU_HWPT_INVALIDATE request array: entries of entryLen bytes each, all of one type. */
export interface InvalidateRequest {
  dataType: number
  entryLen: number
  /** entryLen * count bytes; empty asks only whether the HWPT takes dataType. */
  entries: Buffer
}

/** IOAS map flags: readable and writeable unless said otherwise, and a fixed IOVA when one is given. */
function mapFlags(iova: bigint | undefined, writeable = true, readable = true): number {
  return (
    (readable ? U.IOMMU_IOAS_MAP_READABLE : 0) |
    (writeable ? U.IOMMU_IOAS_MAP_WRITEABLE : 0) |
    (iova === undefined ? 0 : U.IOMMU_IOAS_MAP_FIXED_IOVA)
  )
}

export class Iommufd {
  private closed = false

  private constructor(readonly fd: number) {}

  static open(path = '/dev/iommu'): Iommufd {
    return new Iommufd(openDevice(path))
  }

  /** Takes ownership of an iommufd descriptor this process inherited (`apply --exec` hands one on). */
  static adopt(fd: number): Iommufd {
    return new Iommufd(fd)
  }

  ioasAlloc(): number {
    return ioctlStruct(this.fd, 'IOMMU_IOAS_ALLOC', U.IOMMU_IOAS_ALLOC, U.iommu_ioas_alloc).out_ioas_id
  }

  destroy(id: number): void {
    ioctlStruct(this.fd, `IOMMU_DESTROY of object ${id}`, U.IOMMU_DESTROY, U.iommu_destroy, {id})
  }

  map(ioasId: number, m: MapRequest): bigint {
    const flags = mapFlags(m.iova, m.writeable, m.readable)
    return ioctlStruct(this.fd, 'IOMMU_IOAS_MAP', U.IOMMU_IOAS_MAP, U.iommu_ioas_map, {
      flags,
      ioas_id: ioasId,
      user_va: m.userVa,
      length: m.length,
      iova: m.iova ?? 0n,
    }).iova
  }

  mapFile(
    ioasId: number,
    fd: number,
    start: bigint,
    length: bigint,
    iova?: bigint,
    access: {writeable?: boolean; readable?: boolean} = {},
  ): bigint {
    const flags = mapFlags(iova, access.writeable, access.readable)
    return ioctlStruct(this.fd, 'IOMMU_IOAS_MAP_FILE', U.IOMMU_IOAS_MAP_FILE, U.iommu_ioas_map_file, {
      flags,
      ioas_id: ioasId,
      fd,
      start,
      length,
      iova: iova ?? 0n,
    }).iova
  }

  /** Unmaps [iova, iova+length); iova 0 with length 2^64-1 unmaps everything (length 0 is EINVAL). Returns the bytes unmapped. */
  unmap(ioasId: number, iova: bigint, length: bigint): bigint {
    return ioctlStruct(this.fd, 'IOMMU_IOAS_UNMAP', U.IOMMU_IOAS_UNMAP, U.iommu_ioas_unmap, {
      ioas_id: ioasId,
      iova,
      length,
    }).length
  }

  copy(dstIoasId: number, srcIoasId: number, srcIova: bigint, length: bigint, dstIova?: bigint): bigint {
    const flags = mapFlags(dstIova)
    return ioctlStruct(this.fd, 'IOMMU_IOAS_COPY', U.IOMMU_IOAS_COPY, U.iommu_ioas_copy, {
      flags,
      dst_ioas_id: dstIoasId,
      src_ioas_id: srcIoasId,
      length,
      dst_iova: dstIova ?? 0n,
      src_iova: srcIova,
    }).dst_iova
  }

  /** The usable IOVA ranges: asks once for the count (the kernel answers EMSGSIZE), then for the ranges. */
  iovaRanges(ioasId: number): IovaRange[] {
    const head = U.iommu_ioas_iova_ranges
    let capacity = 8
    for (;;) {
      const mem = new NativeMemory(head.size + U.iommu_iova_range.size * capacity)
      try {
        head.encodeInto(mem.bytes, {
          ioas_id: ioasId,
          num_iovas: capacity,
          allowed_iovas: mem.address + BigInt(head.size),
        })
        try {
          ioctlMemory(this.fd, 'IOMMU_IOAS_IOVA_RANGES', U.IOMMU_IOAS_IOVA_RANGES, mem)
        } catch (error) {
          const need = head.decode(mem.bytes).num_iovas
          if ((error as {errnoName?: string}).errnoName === 'EMSGSIZE' && need > capacity) {
            capacity = need
            continue
          }
          throw error
        }
        const n = head.decode(mem.bytes).num_iovas
        return U.iommu_iova_range
          .decodeArray(mem.bytes, n, head.size)
          .map((r) => ({start: r.start, last: r.last}))
      } finally {
        mem.free()
      }
    }
  }

  allowIovas(ioasId: number, ranges: IovaRange[]): void {
    const head = U.iommu_ioas_allow_iovas
    const mem = new NativeMemory(head.size + U.iommu_iova_range.size * ranges.length)
    try {
      head.encodeInto(mem.bytes, {
        ioas_id: ioasId,
        num_iovas: ranges.length,
        allowed_iovas: mem.address + BigInt(head.size),
      })
      U.iommu_iova_range.encodeArray(ranges).copy(mem.bytes, head.size)
      ioctlMemory(this.fd, 'IOMMU_IOAS_ALLOW_IOVAS', U.IOMMU_IOAS_ALLOW_IOVAS, mem)
    } finally {
      mem.free()
    }
  }

  /** IOMMU_OPTION: get (op GET) or set a global or per-object option; returns val64. */
  option(option: number, op: number, objectId = 0, value = 0n): bigint {
    return ioctlStruct(this.fd, 'IOMMU_OPTION', U.IOMMU_OPTION, U.iommu_option, {
      option_id: option,
      op,
      object_id: objectId,
      val64: value,
    }).val64
  }

  /**
   * IOMMU_HWPT_ALLOC. On an IOAS: a paging HWPT (data, if any, of IOMMU_HWPT_DATA_NONE's driver).
   * On a nest-parent HWPT or a vIOMMU: a nested HWPT, whose data (a guest page table's
   * description: VT-d stage 1, an SMMUv3 STE) the driver reads; faultId with
   * IOMMU_HWPT_FAULT_ID_VALID names the fault queue its page faults go to.
   */
  hwptAlloc(devId: number, ptId: number, flags = 0, data?: UserData, faultId = 0): number {
    const values = {flags, dev_id: devId, pt_id: ptId, fault_id: faultId}
    if (!data)
      return ioctlStruct(this.fd, 'IOMMU_HWPT_ALLOC', U.IOMMU_HWPT_ALLOC, U.iommu_hwpt_alloc, values)
        .out_hwpt_id
    return this.withPayload(
      'IOMMU_HWPT_ALLOC',
      U.IOMMU_HWPT_ALLOC,
      U.iommu_hwpt_alloc,
      {...values, data_type: data.type, data_len: data.bytes.length},
      'data_uptr',
      data.bytes,
    ).out.out_hwpt_id
  }

  /**
   * IOMMU_HWPT_INVALIDATE on a nested HWPT or a vIOMMU; returns how many entries the kernel
   * handled (all of them). A refusal is a PartialSyscallError with the count it handled first.
   */
  invalidate(hwptId: number, req: InvalidateRequest): number {
    const requested = req.entryLen ? Math.floor(req.entries.length / req.entryLen) : 0
    return this.withPayload(
      'IOMMU_HWPT_INVALIDATE',
      U.IOMMU_HWPT_INVALIDATE,
      U.iommu_hwpt_invalidate,
      {hwpt_id: hwptId, data_type: req.dataType, entry_len: req.entryLen, entry_num: requested},
      requested ? 'data_uptr' : null,
      req.entries,
      (e, out) => new PartialSyscallError(e.op, e.errno, out.entry_num, requested),
    ).out.entry_num
  }

  /**
   * IOMMU_VIOMMU_ALLOC: a vIOMMU of `type` on a nest-parent HWPT, backed by the physical IOMMU of
   * devId. Returns its id and the driver data as the kernel left it (drivers answer in it).
   */
  viommuAlloc(devId: number, hwptId: number, type: number, data?: Buffer): {id: number; data: Buffer} {
    const {out, payload} = this.withPayload(
      'IOMMU_VIOMMU_ALLOC',
      U.IOMMU_VIOMMU_ALLOC,
      U.iommu_viommu_alloc,
      {type, dev_id: devId, hwpt_id: hwptId, data_len: data?.length ?? 0},
      data?.length ? 'data_uptr' : null,
      data ?? Buffer.alloc(0),
    )
    return {id: out.out_viommu_id, data: payload}
  }

  /** IOMMU_VDEVICE_ALLOC: devId as the guest sees it behind the vIOMMU, its virtual id (vSID, vRID). */
  vdeviceAlloc(viommuId: number, devId: number, virtId: bigint): number {
    return ioctlStruct(this.fd, 'IOMMU_VDEVICE_ALLOC', U.IOMMU_VDEVICE_ALLOC, U.iommu_vdevice_alloc, {
      viommu_id: viommuId,
      dev_id: devId,
      virt_id: virtId,
    }).out_vdevice_id
  }

  /**
   * IOMMU_FAULT_QUEUE_ALLOC: a fault queue, to name in IOMMU_HWPT_ALLOC with
   * IOMMU_HWPT_FAULT_ID_VALID; the page requests of devices attached to such an HWPT are read
   * from it, and answered through it.
   */
  faultQueueAlloc(): FaultQueue {
    const out = ioctlStruct(
      this.fd,
      'IOMMU_FAULT_QUEUE_ALLOC',
      U.IOMMU_FAULT_QUEUE_ALLOC,
      U.iommu_fault_alloc,
    )
    return new FaultQueue(out.out_fault_id, out.out_fault_fd)
  }

  /**
   * IOMMU_VEVENTQ_ALLOC: the vIOMMU's queue of events of `type` (one per type), holding at most
   * `depth` (1 to 2^19); past that events are lost, and reported lost. `dataLen` is the size of
   * the type's records; the UAPI types' are known.
   */
  veventqAlloc(
    viommuId: number,
    type: number,
    depth: number,
    dataLen = VEVENT_DATA_LENGTH[type],
  ): VEventQueue {
    if (dataLen === undefined)
      throw new RangeError(`vEVENTQ type ${type}: the size of its records is not known`)
    const out = ioctlStruct(this.fd, 'IOMMU_VEVENTQ_ALLOC', U.IOMMU_VEVENTQ_ALLOC, U.iommu_veventq_alloc, {
      viommu_id: viommuId,
      type,
      veventq_depth: depth,
    })
    return new VEventQueue(out.out_veventq_id, out.out_veventq_fd, dataLen)
  }

  /**
   * IOMMU_HW_QUEUE_ALLOC: the vIOMMU's hardware queue number `index` of `type`, its memory at
   * [iova, iova+length) of the nest parent's IOAS (mapped there first; pinned while it lives).
   */
  hwQueueAlloc(viommuId: number, type: number, index: number, iova: bigint, length: bigint): number {
    return ioctlStruct(this.fd, 'IOMMU_HW_QUEUE_ALLOC', U.IOMMU_HW_QUEUE_ALLOC, U.iommu_hw_queue_alloc, {
      viommu_id: viommuId,
      type,
      index,
      nesting_parent_iova: iova,
      length,
    }).out_hw_queue_id
  }

  /**
   * IOMMU_IOAS_CHANGE_PROCESS: charges the pinned pages of every map, in every IOAS, to this
   * process. Only maps made from a file (IOMMU_IOAS_MAP_FILE) can move: any other map is EINVAL,
   * and then nothing moved.
   */
  changeProcess(): void {
    ioctlStruct(
      this.fd,
      'IOMMU_IOAS_CHANGE_PROCESS',
      U.IOMMU_IOAS_CHANGE_PROCESS,
      U.iommu_ioas_change_process,
    )
  }

  /**
   * Issues `request` with the struct and `payload` in one native block, the struct's `pointer`
   * member (null: none) holding the payload's address; returns both as the kernel left them.
   * `refused` turns a failure into the error to throw, from the struct the kernel wrote back.
   */
  private withPayload<S extends AnyStruct>(
    op: string,
    request: number,
    struct: S,
    values: EncodeValues<StructValues<S>>,
    pointer: string | null,
    payload: Buffer,
    refused?: (e: SyscallError, out: StructValues<S>) => Error,
  ): {out: StructValues<S>; payload: Buffer} {
    const mem = new NativeMemory(struct.size + payload.length)
    try {
      const at = pointer ? {[pointer]: mem.address + BigInt(struct.size)} : {}
      struct.encodeInto(mem.bytes, {...values, ...at} as EncodeValues<StructValues<S>>)
      payload.copy(mem.bytes, struct.size)
      try {
        ioctlMemory(this.fd, op, request, mem)
      } catch (error) {
        if (refused && error instanceof SyscallError)
          throw refused(error, struct.decode(mem.bytes) as StructValues<S>)
        throw error
      }
      return {out: struct.decode(mem.bytes) as StructValues<S>, payload: mem.snapshot().subarray(struct.size)}
    } finally {
      mem.free()
    }
  }

  hwInfo(devId: number): HwInfo {
    const data = new NativeMemory(256)
    try {
      const out = ioctlStruct(this.fd, 'IOMMU_GET_HW_INFO', U.IOMMU_GET_HW_INFO, U.iommu_hw_info, {
        dev_id: devId,
        data_len: data.size,
        data_uptr: data.address,
      })
      return {
        type: out.out_data_type,
        data: data.snapshot().subarray(0, out.data_len),
        capabilities: out.out_capabilities,
        maxPasidLog2: out.out_max_pasid_log2,
      }
    } finally {
      data.free()
    }
  }

  setDirtyTracking(hwptId: number, enable: boolean): void {
    ioctlStruct(
      this.fd,
      'IOMMU_HWPT_SET_DIRTY_TRACKING',
      U.IOMMU_HWPT_SET_DIRTY_TRACKING,
      U.iommu_hwpt_set_dirty_tracking,
      {
        flags: enable ? U.IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
        hwpt_id: hwptId,
      },
    )
  }

  /**
   * Reads the dirty bits of [iova, iova+length) at pageSize granularity, one bit a page, and
   * clears them unless noClear. pageSize must be a power of two: the kernel counts bits in units
   * of its lowest set bit, so any other size would let it write past the bitmap.
   */
  dirtyBitmap(hwptId: number, iova: bigint, length: bigint, pageSize: bigint, noClear = false): Buffer {
    if (pageSize <= 0n || (pageSize & (pageSize - 1n)) !== 0n) {
      throw new RangeError(`dirty bitmap page size ${pageSize} is not a power of two`)
    }
    const pages = (length + pageSize - 1n) / pageSize
    const bitmap = new NativeMemory(Number((pages + 63n) / 64n) * 8)
    try {
      ioctlStruct(
        this.fd,
        'IOMMU_HWPT_GET_DIRTY_BITMAP',
        U.IOMMU_HWPT_GET_DIRTY_BITMAP,
        U.iommu_hwpt_get_dirty_bitmap,
        {
          hwpt_id: hwptId,
          flags: noClear ? U.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0,
          iova,
          length,
          page_size: pageSize,
          data: bitmap.address,
        },
      )
      return bitmap.snapshot()
    } finally {
      bitmap.free()
    }
  }

  /** Closes the descriptor, which destroys every object in it. Idempotent; never throws. */
  close(): void {
    if (this.closed) return
    this.closed = true
    closeQuietly(this.fd)
  }
}
