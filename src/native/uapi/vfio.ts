// Mirrors include/uapi/linux/vfio.h of Linux 7.2: the container, group and device ioctls
// iommuctl issues, their structs and the constants they use. Names are the header's.
// VFIO structs start with `argsz` (not `size`); encode() fills it in. VFIO request numbers are
// only unique per file type: VFIO_IOMMU_GET_INFO (container) and
// VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (device) are both VFIO_BASE + 12, for one.
import {_IO, defineStruct} from '../layout.js'

export const VFIO_API_VERSION = 0

// Extensions, for VFIO_CHECK_EXTENSION, and IOMMU types, for VFIO_SET_IOMMU.
export const VFIO_TYPE1_IOMMU = 1
export const VFIO_SPAPR_TCE_IOMMU = 2
export const VFIO_TYPE1v2_IOMMU = 3
export const VFIO_DMA_CC_IOMMU = 4
export const VFIO_EEH = 5
export const VFIO_SPAPR_TCE_v2_IOMMU = 7
export const VFIO_NOIOMMU_IOMMU = 8
export const VFIO_UNMAP_ALL = 9
export const VFIO_UPDATE_VADDR = 10

export const VFIO_TYPE = 0x3b // ';', as IOMMUFD_TYPE
export const VFIO_BASE = 100

/** The header of each capability in an INFO buffer's chain; offsets are from the buffer's start. */
export const vfio_info_cap_header = defineStruct('vfio_info_cap_header', [
  ['id', 'u16'],
  ['version', 'u16'],
  ['next', 'u32'],
])

// Container (/dev/vfio/vfio) ioctls. CHECK_EXTENSION and SET_IOMMU take the value itself.
export const VFIO_GET_API_VERSION = _IO(VFIO_TYPE, VFIO_BASE + 0)
export const VFIO_CHECK_EXTENSION = _IO(VFIO_TYPE, VFIO_BASE + 1)
export const VFIO_SET_IOMMU = _IO(VFIO_TYPE, VFIO_BASE + 2)

// VFIO_GROUP_GET_STATUS
export const vfio_group_status = defineStruct('vfio_group_status', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
])
export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1
export const VFIO_GROUP_GET_STATUS = _IO(VFIO_TYPE, VFIO_BASE + 3)

// Group ioctls: SET_CONTAINER takes a pointer to the container fd (__s32), UNSET_CONTAINER
// nothing, GET_DEVICE_FD a pointer to the device name (a C string); it returns the fd.
export const VFIO_GROUP_SET_CONTAINER = _IO(VFIO_TYPE, VFIO_BASE + 4)
export const VFIO_GROUP_GET_DEVICE_FD = _IO(VFIO_TYPE, VFIO_BASE + 6)

// VFIO_DEVICE_GET_INFO
export const vfio_device_info = defineStruct('vfio_device_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['num_regions', 'u32'],
  ['num_irqs', 'u32'],
  ['cap_offset', 'u32'],
  ['pad', 'u32'],
])
export const VFIO_DEVICE_FLAGS_RESET = 1 << 0
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1
export const VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2
export const VFIO_DEVICE_FLAGS_AMBA = 1 << 3
export const VFIO_DEVICE_FLAGS_CCW = 1 << 4
export const VFIO_DEVICE_FLAGS_AP = 1 << 5
export const VFIO_DEVICE_FLAGS_FSL_MC = 1 << 6
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7
export const VFIO_DEVICE_FLAGS_CDX = 1 << 8
export const VFIO_DEVICE_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 7)

// VFIO_IOMMU_GET_INFO (type1 container). With VFIO_IOMMU_INFO_CAPS, cap_offset starts a chain
// of vfio_info_cap_header; a short argsz comes back raised to the size the chain needs.
export const vfio_iommu_type1_info = defineStruct('vfio_iommu_type1_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['iova_pgsizes', 'aligned_u64'],
  ['cap_offset', 'u32'],
  ['pad', 'u32'],
])
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0
export const VFIO_IOMMU_INFO_CAPS = 1 << 1
export const VFIO_IOMMU_GET_INFO = _IO(VFIO_TYPE, VFIO_BASE + 12)

/** An IOVA interval, `end` inclusive. */
export const vfio_iova_range = defineStruct('vfio_iova_range', [
  ['start', 'u64'],
  ['end', 'u64'],
])

export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1
/** nr_iovas vfio_iova_range follow at fields.iova_ranges.offset. */
export const vfio_iommu_type1_info_cap_iova_range = defineStruct('vfio_iommu_type1_info_cap_iova_range', [
  ['header', vfio_info_cap_header],
  ['nr_iovas', 'u32'],
  ['reserved', 'u32'],
  ['iova_ranges', vfio_iova_range, 0],
])

export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2
/** Four bytes of padding after flags: pgsize_bitmap is at 16, not 12. */
export const vfio_iommu_type1_info_cap_migration = defineStruct('vfio_iommu_type1_info_cap_migration', [
  ['header', vfio_info_cap_header],
  ['flags', 'u32'],
  ['pgsize_bitmap', 'u64'],
  ['max_dirty_bitmap_size', 'u64'],
])

export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3
export const vfio_iommu_type1_info_dma_avail = defineStruct('vfio_iommu_type1_info_dma_avail', [
  ['header', vfio_info_cap_header],
  ['avail', 'u32'],
])

// VFIO_IOMMU_MAP_DMA
export const vfio_iommu_type1_dma_map = defineStruct('vfio_iommu_type1_dma_map', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['vaddr', 'u64'],
  ['iova', 'u64'],
  ['size', 'u64'],
])
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2
export const VFIO_IOMMU_MAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 13)

// VFIO_IOMMU_UNMAP_DMA: size returns the bytes unmapped. data[] carries a struct vfio_bitmap
// only with VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP.
export const vfio_iommu_type1_dma_unmap = defineStruct('vfio_iommu_type1_dma_unmap', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['iova', 'u64'],
  ['size', 'u64'],
  ['data', 'u8', 0],
])
export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2
export const VFIO_IOMMU_UNMAP_DMA = _IO(VFIO_TYPE, VFIO_BASE + 14)

// VFIO_DEVICE_BIND_IOMMUFD (device cdev, /dev/vfio/devices/vfioN). token_uuid_ptr is new in
// 7.x: the struct is 24 bytes where it used to be 16.
export const vfio_device_bind_iommufd = defineStruct('vfio_device_bind_iommufd', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['iommufd', 's32'],
  ['out_devid', 'u32'],
  ['token_uuid_ptr', 'aligned_u64'],
])
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0
export const VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18)

// VFIO_DEVICE_ATTACH_IOMMUFD_PT: pt_id in (an IOAS or HWPT), the attached HWPT out; pasid is
// read only with VFIO_DEVICE_ATTACH_PASID.
export const vfio_device_attach_iommufd_pt = defineStruct('vfio_device_attach_iommufd_pt', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['pt_id', 'u32'],
  ['pasid', 'u32'],
])
export const VFIO_DEVICE_ATTACH_PASID = 1 << 0
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19)

// VFIO_DEVICE_DETACH_IOMMUFD_PT: pasid is read only with VFIO_DEVICE_DETACH_PASID.
export const vfio_device_detach_iommufd_pt = defineStruct('vfio_device_detach_iommufd_pt', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['pasid', 'u32'],
])
export const VFIO_DEVICE_DETACH_PASID = 1 << 0
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20)
