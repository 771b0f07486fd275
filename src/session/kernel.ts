// The kernel operations the session engine and probe make, as an interface: they decide what to
// make and in what order, and this is everything they ask of the kernel. hostKernel is the real
// one (src/iommufd, src/vfio and src/native over /dev/iommu); the unit tests drive the engine
// with an in-memory twin that refuses what the kernel refuses (test/helpers/fake-kernel.ts), as
// rust-vmm's vfio-ioctls does with its vfio_syscall module and its test double.
import {Iommufd} from '../iommufd/iommufd.js'
import {FaultQueue, VEventQueue} from '../iommufd/queues.js'
import {Mapping, MemoryFile} from '../native/mapping.js'
import {Root} from '../sysfs/root.js'
import {VfioCdev} from '../vfio/cdev.js'
import {locateVfioCdev} from '../vfio/locate.js'

/** One /dev/iommu descriptor and the ioctls the engine issues on it: Iommufd's, as it documents them. */
export type KernelIommufd = Pick<
  Iommufd,
  | 'fd'
  | 'ioasAlloc'
  | 'allowIovas'
  | 'option'
  | 'map'
  | 'mapFile'
  | 'unmap'
  | 'iovaRanges'
  | 'hwptAlloc'
  | 'invalidate'
  | 'viommuAlloc'
  | 'vdeviceAlloc'
  | 'hwInfo'
  | 'destroy'
  | 'close'
> & {
  faultQueueAlloc(): KernelFaultQueue
  veventqAlloc(viommuId: number, type: number, depth: number, dataLen?: number): KernelVEventQueue
}

/** A fault queue's descriptor, open: FaultQueue's read (never blocks), respond and close. */
export type KernelFaultQueue = Pick<FaultQueue, 'id' | 'fd' | 'read' | 'respond' | 'close'>

/** A vEVENTQ's descriptor, open: VEventQueue's read (never blocks; gaps counted) and close. */
export type KernelVEventQueue = Pick<VEventQueue, 'id' | 'fd' | 'read' | 'close'>

/**
 * A VFIO device's cdev, open: VfioCdev's bind, attach (an IOAS attach answers with the HWPT the
 * kernel made for it), detach, and close (detaches, unbinds; never throws).
 */
export type KernelDevice = Pick<VfioCdev, 'fd' | 'bind' | 'attach' | 'detach' | 'close'>

/** Memory this process mapped, owned until unmap (idempotent, never throws). */
export type UserMemory = Pick<Mapping, 'address' | 'length' | 'unmap'>

/** A descriptor for IOMMU_IOAS_MAP_FILE, owned until close (idempotent, never throws). */
export type FileMemory = Pick<MemoryFile, 'fd' | 'close'>

export interface Kernel {
  openIommufd(): KernelIommufd
  /**
   * The VFIO cdev of a device (a BDF, or an mdev's UUID), or an error saying why it has none (not
   * the live host, not on VFIO...).
   */
  deviceNode(device: string): string
  openDevice(node: string): KernelDevice
  anonymous(length: bigint): UserMemory
  /** A memfd of length bytes, in huge pages with hugetlb. */
  memfd(length: bigint, hugetlb: boolean): FileMemory
  openFile(path: string, writable: boolean): FileMemory
}

/** The running kernel, with devices found under root (which must be the live host). */
export function hostKernel(root: Root): Kernel {
  return {
    openIommufd: () => Iommufd.open(),
    deviceNode: (device) => locateVfioCdev(root, device),
    openDevice: (node) => VfioCdev.open(node),
    anonymous: (length) => Mapping.anonymous(length),
    memfd: (length, hugetlb) => MemoryFile.memfd(length, hugetlb),
    openFile: (path, writable) => MemoryFile.file(path, writable),
  }
}
