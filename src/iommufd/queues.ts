// The descriptors iommufd's event queues are read through: a fault queue
// (IOMMU_FAULT_QUEUE_ALLOC), whose page requests are read and answered, and a vEVENTQ
// (IOMMU_VEVENTQ_ALLOC), whose vIOMMU events are read. Each owns its descriptor and is the one
// place that closes it; the object behind it (its id) lives until IOMMU_DESTROY or until the
// iommufd closes, whichever the descriptor's owner does.
import {closeQuietly, readDescriptor, writeDescriptor} from '../native/ioctl.js'
import {waitReadable} from '../native/socket.js'
import * as U from '../native/uapi/iommufd.js'
import {
  decodePageFaults,
  encodePageResponse,
  PageFault,
  PageResponse,
  VEvent,
  VEventDecoder,
} from './events.js'

abstract class EventQueue {
  private closed = false

  constructor(
    /** The object's id in the iommufd (to destroy it, or to name it in IOMMU_HWPT_ALLOC). */
    readonly id: number,
    readonly fd: number,
  ) {}

  /** Waits up to timeoutMs for something to read; false when nothing came (or a signal did). */
  waitReadable(timeoutMs: number): boolean {
    return waitReadable(this.fd, timeoutMs)
  }

  /** Closes the descriptor. Idempotent; never throws. */
  close(): void {
    if (this.closed) return
    this.closed = true
    closeQuietly(this.fd)
  }
}

export class FaultQueue extends EventQueue {
  /**
   * The page requests queued, whole groups only, at most `max` requests (none: an empty list;
   * the kernel does not block). A group larger than `max` is EINVAL: read with a larger max.
   */
  read(max = 64): PageFault[] {
    const bytes = readDescriptor(this.fd, 'read of the fault queue', max * U.iommu_hwpt_pgfault.size)
    return decodePageFaults(bytes)
  }

  /** Answers the fault group whose last request carried `cookie`; EINVAL if none is waiting on it. */
  respond(cookie: number, response: PageResponse): void {
    writeDescriptor(this.fd, `page response to fault cookie ${cookie}`, encodePageResponse(cookie, response))
  }
}

export class VEventQueue extends EventQueue {
  private readonly decoder: VEventDecoder

  constructor(id: number, fd: number, dataLen: number) {
    super(id, fd)
    this.decoder = new VEventDecoder(dataLen)
  }

  /**
   * The vEVENTs queued, at most `max` (none: an empty list), each with the events lost before
   * it by its sequence, counted across reads.
   */
  read(max = 64): VEvent[] {
    const room = max * (U.iommufd_vevent_header.size + this.decoder.dataLen)
    return this.decoder.decode(readDescriptor(this.fd, 'read of the vEVENTQ', room))
  }
}
