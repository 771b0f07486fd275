// What iommufd's event queues hand to userspace, decoded: page requests read from a fault
// queue (struct iommu_hwpt_pgfault, drivers/iommu/iommufd/eventq.c iommufd_fault_fops_read)
// and vEVENTs read from a vEVENTQ (struct iommufd_vevent_header and its data,
// iommufd_veventq_fops_read). Pure: the bytes come in, records go out. The bytes are the
// kernel's, but they are checked as if they were not: a length that does not divide into
// records is refused, never read past.
import * as U from '../native/uapi/iommufd.js'

/** One page request, as a fault queue reports it. */
export interface PageFault {
  /** The iommufd device id of the device that faulted. */
  devId: number
  /** Its PASID, or null when the request carried none (IOMMU_PGFAULT_FLAGS_PASID_VALID clear). */
  pasid: number | null
  /** Page Request Group Index. */
  grpid: number
  /** The access asked for: read, write, exec, priv (enum iommu_hwpt_pgfault_perm). */
  perm: ('read' | 'write' | 'exec' | 'priv')[]
  addr: bigint
  /** Bytes the device said it will fetch; 0 without a hint. */
  length: number
  /** Echoed in the response to the group; meaningful on the group's last request. */
  cookie: number
  /** The last request of its group (IOMMU_PGFAULT_FLAGS_LAST_PAGE): the one to answer. */
  lastPage: boolean
  /** The raw flags, unknown bits included. */
  flags: number
}

const PERMS = [
  [U.IOMMU_PGFAULT_PERM_READ, 'read'],
  [U.IOMMU_PGFAULT_PERM_WRITE, 'write'],
  [U.IOMMU_PGFAULT_PERM_EXEC, 'exec'],
  [U.IOMMU_PGFAULT_PERM_PRIV, 'priv'],
] as const

/** The page requests in what one read() of a fault queue returned. */
export function decodePageFaults(bytes: Buffer): PageFault[] {
  const size = U.iommu_hwpt_pgfault.size
  if (bytes.length % size)
    throw new RangeError(
      `a fault queue read of ${bytes.length} bytes is not a whole number of ${size}-byte page requests`,
    )
  return U.iommu_hwpt_pgfault.decodeArray(bytes, bytes.length / size).map((r) => ({
    devId: r.dev_id,
    pasid: r.flags & U.IOMMU_PGFAULT_FLAGS_PASID_VALID ? r.pasid : null,
    grpid: r.grpid,
    perm: PERMS.filter(([bit]) => r.perm & bit).map(([, name]) => name),
    addr: r.addr,
    length: r.length,
    cookie: r.cookie,
    lastPage: (r.flags & U.IOMMU_PGFAULT_FLAGS_LAST_PAGE) !== 0,
    flags: r.flags,
  }))
}

export type PageResponse = 'success' | 'invalid'

/** The bytes written back to answer a fault group: its cookie and the PCIe response code. */
export function encodePageResponse(cookie: number, response: PageResponse): Buffer {
  const code = response === 'success' ? U.IOMMUFD_PAGE_RESP_SUCCESS : U.IOMMUFD_PAGE_RESP_INVALID
  return U.iommu_hwpt_page_response.encode({cookie, code})
}

/** Sequence numbers run 0 to INT_MAX, then start again at 0 (struct iommufd_vevent_header). */
const SEQUENCE_MASK = 0x7fff_ffff

/** One record read from a vEVENTQ. */
export interface VEvent {
  sequence: number
  /**
   * A lost-events header (IOMMU_VEVENTQ_FLAG_LOST_EVENTS): the queue was full, so events were
   * dropped, the last of them numbered `sequence`; no data follows it.
   */
  lostEvents: boolean
  /**
   * Events known lost just before this record: the gap in the sequence from the previous
   * record read (for a lost-events header, the events it stands for, itself included).
   */
  lost: number
  /** The type-specific data; empty for a lost-events header. */
  data: Buffer
}

/**
 * Reads the records out of what read() of a vEVENTQ returned, each header followed by
 * `dataLen` bytes of the queue type's data (the kernel does not say how long), and tracks the
 * sequence across reads, so that a gap between reads is seen too.
 */
export class VEventDecoder {
  /** The sequence of the last record decoded; null before the first. */
  private previous: number | null = null

  constructor(readonly dataLen: number) {
    if (!Number.isInteger(dataLen) || dataLen <= 0)
      throw new RangeError(`vEVENT data length ${dataLen} is not a positive integer`)
  }

  decode(bytes: Buffer): VEvent[] {
    const head = U.iommufd_vevent_header
    const out: VEvent[] = []
    let at = 0
    while (at < bytes.length) {
      if (bytes.length - at < head.size)
        throw new RangeError(`a vEVENTQ read ends inside a header, at byte ${at} of ${bytes.length}`)
      const h = head.decode(bytes, at)
      at += head.size
      const lostEvents = (h.flags & U.IOMMU_VEVENTQ_FLAG_LOST_EVENTS) !== 0
      if (h.sequence > SEQUENCE_MASK) throw new RangeError(`vEVENT sequence ${h.sequence} is past INT_MAX`)
      let data = Buffer.alloc(0)
      if (!lostEvents) {
        if (bytes.length - at < this.dataLen)
          throw new RangeError(
            `a vEVENTQ read ends inside the data of event ${h.sequence}: ${bytes.length - at} of ${this.dataLen} bytes`,
          )
        data = Buffer.from(bytes.subarray(at, at + this.dataLen))
        at += this.dataLen
      }
      const gap = this.previous === null ? 0 : (h.sequence - this.previous - 1) & SEQUENCE_MASK
      this.previous = h.sequence
      out.push({sequence: h.sequence, lostEvents, lost: lostEvents ? gap + 1 : gap, data})
    }
    return out
  }
}

/** Data length of each UAPI vEVENTQ type's records; drivers' test types are given by their callers. */
export const VEVENT_DATA_LENGTH: Readonly<Record<number, number>> = {
  [U.IOMMU_VEVENTQ_TYPE_ARM_SMMUV3]: U.iommu_vevent_arm_smmuv3.size,
  [U.IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV]: U.iommu_vevent_tegra241_cmdqv.size,
}
