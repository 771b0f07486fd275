// The legacy VFIO path: a container (/dev/vfio/vfio) with the type1v2 IOMMU, and a group
// (/dev/vfio/GROUP) set into it. Each object owns its descriptor and closes it once.
import {closeQuietly, ioctlMemory, ioctlStruct, ioctlValue, openDevice} from '../native/ioctl.js'
import {withMemory} from '../native/memory.js'
import * as V from '../native/uapi/vfio.js'

export interface Type1Info {
  flags: number
  pgsizes: bigint
  iovaRanges: {start: bigint; end: bigint}[]
  dmaAvailable: number | null
}

export class VfioContainer {
  private closed = false

  private constructor(readonly fd: number) {}

  static open(path = '/dev/vfio/vfio'): VfioContainer {
    return new VfioContainer(openDevice(path))
  }

  apiVersion(): number {
    return ioctlValue(this.fd, 'VFIO_GET_API_VERSION', V.VFIO_GET_API_VERSION, 0)
  }

  /** 1 when the container supports the extension (an IOMMU type), 0 when not. */
  checkExtension(extension: number): number {
    return ioctlValue(this.fd, 'VFIO_CHECK_EXTENSION', V.VFIO_CHECK_EXTENSION, extension)
  }

  setIommu(type = V.VFIO_TYPE1v2_IOMMU): void {
    ioctlValue(this.fd, 'VFIO_SET_IOMMU', V.VFIO_SET_IOMMU, type)
  }

  /** VFIO_IOMMU_GET_INFO with its capability chain (IOVA ranges, DMA mappings available). */
  info(): Type1Info {
    const size = 4096
    return withMemory(size, (mem) => {
      V.vfio_iommu_type1_info.encodeInto(mem.bytes, {argsz: size})
      ioctlMemory(this.fd, 'VFIO_IOMMU_GET_INFO', V.VFIO_IOMMU_GET_INFO, mem)
      const head = V.vfio_iommu_type1_info.decode(mem.bytes)
      const out: Type1Info = {
        flags: head.flags,
        pgsizes: head.iova_pgsizes,
        iovaRanges: [],
        dmaAvailable: null,
      }
      let offset = head.flags & V.VFIO_IOMMU_INFO_CAPS ? head.cap_offset : 0
      for (let hops = 0; offset && offset + V.vfio_info_cap_header.size <= size && hops < 64; hops++) {
        const cap = V.vfio_info_cap_header.decode(mem.bytes, offset)
        if (cap.id === V.VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
          const c = V.vfio_iommu_type1_info_cap_iova_range.decode(mem.bytes, offset)
          const first = offset + V.vfio_iommu_type1_info_cap_iova_range.fields.iova_ranges.offset
          out.iovaRanges = V.vfio_iova_range
            .decodeArray(mem.bytes, c.nr_iovas, first)
            .map((x) => ({start: x.start, end: x.end}))
        } else if (cap.id === V.VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
          out.dmaAvailable = V.vfio_iommu_type1_info_dma_avail.decode(mem.bytes, offset).avail
        }
        offset = cap.next
      }
      return out
    })
  }

  mapDma(vaddr: bigint, iova: bigint, size: bigint): void {
    ioctlStruct(this.fd, 'VFIO_IOMMU_MAP_DMA', V.VFIO_IOMMU_MAP_DMA, V.vfio_iommu_type1_dma_map, {
      flags: V.VFIO_DMA_MAP_FLAG_READ | V.VFIO_DMA_MAP_FLAG_WRITE,
      vaddr,
      iova,
      size,
    })
  }

  /** Returns the bytes unmapped (0 when nothing was mapped there). */
  unmapDma(iova: bigint, size: bigint): bigint {
    return ioctlStruct(
      this.fd,
      'VFIO_IOMMU_UNMAP_DMA',
      V.VFIO_IOMMU_UNMAP_DMA,
      V.vfio_iommu_type1_dma_unmap,
      {iova, size},
    ).size
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    closeQuietly(this.fd)
  }
}

export class VfioGroup {
  private closed = false

  private constructor(readonly fd: number) {}

  static open(path: string): VfioGroup {
    return new VfioGroup(openDevice(path))
  }

  /** VFIO_GROUP_GET_STATUS: viable (every device on a VFIO-safe driver) and whether a container is set. */
  status(): {viable: boolean; containerSet: boolean} {
    const flags = ioctlStruct(
      this.fd,
      'VFIO_GROUP_GET_STATUS',
      V.VFIO_GROUP_GET_STATUS,
      V.vfio_group_status,
    ).flags
    return {
      viable: (flags & V.VFIO_GROUP_FLAGS_VIABLE) !== 0,
      containerSet: (flags & V.VFIO_GROUP_FLAGS_CONTAINER_SET) !== 0,
    }
  }

  /** VFIO_GROUP_SET_CONTAINER takes a pointer to the container's descriptor. */
  setContainer(container: VfioContainer): void {
    const arg = Buffer.alloc(4)
    arg.writeInt32LE(container.fd)
    withMemory(arg, (mem) =>
      ioctlMemory(this.fd, 'VFIO_GROUP_SET_CONTAINER', V.VFIO_GROUP_SET_CONTAINER, mem),
    )
  }

  /** VFIO_GROUP_GET_DEVICE_FD takes the device name (its BDF) as a C string; returns a device fd. */
  deviceFd(bdf: string): number {
    return withMemory(Buffer.from(`${bdf}\0`), (mem) =>
      ioctlMemory(this.fd, `VFIO_GROUP_GET_DEVICE_FD of ${bdf}`, V.VFIO_GROUP_GET_DEVICE_FD, mem),
    )
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    closeQuietly(this.fd)
  }
}
