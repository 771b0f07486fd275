// Mirrors include/uapi/linux/iommufd.h of Linux 7.2: the /dev/iommu ioctls iommuctl issues,
// their structs and the constants they use. Names are the header's, so that grep finds both.
// Every ioctl takes a struct whose first __u32 is its size; encode() fills it in.
//
// 7.2 also has IOMMU_VFIO_IOAS, which iommuctl does not issue and so does not define.
import {_IO, defineStruct} from '../layout.js'

export const IOMMUFD_TYPE = 0x3b // ';'

export const IOMMUFD_CMD_BASE = 0x80
export const IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE
export const IOMMUFD_CMD_IOAS_ALLOC = 0x81
export const IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82
export const IOMMUFD_CMD_IOAS_COPY = 0x83
export const IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84
export const IOMMUFD_CMD_IOAS_MAP = 0x85
export const IOMMUFD_CMD_IOAS_UNMAP = 0x86
export const IOMMUFD_CMD_OPTION = 0x87
export const IOMMUFD_CMD_HWPT_ALLOC = 0x89
export const IOMMUFD_CMD_GET_HW_INFO = 0x8a
export const IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b
export const IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c
export const IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d
export const IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e
export const IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f
export const IOMMUFD_CMD_VIOMMU_ALLOC = 0x90
export const IOMMUFD_CMD_VDEVICE_ALLOC = 0x91
export const IOMMUFD_CMD_IOAS_CHANGE_PROCESS = 0x92
export const IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93
export const IOMMUFD_CMD_HW_QUEUE_ALLOC = 0x94

// IOMMU_DESTROY
export const iommu_destroy = defineStruct('iommu_destroy', [
  ['size', 'u32'],
  ['id', 'u32'],
])
export const IOMMU_DESTROY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

// IOMMU_IOAS_ALLOC
export const iommu_ioas_alloc = defineStruct('iommu_ioas_alloc', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['out_ioas_id', 'u32'],
])
export const IOMMU_IOAS_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)

/** An interval of IOVA space, `last` inclusive; arrays of it are what allowed_iovas points at. */
export const iommu_iova_range = defineStruct('iommu_iova_range', [
  ['start', 'aligned_u64'],
  ['last', 'aligned_u64'],
])

// IOMMU_IOAS_IOVA_RANGES: num_iovas in, the total out (EMSGSIZE when the array was too short).
export const iommu_ioas_iova_ranges = defineStruct('iommu_ioas_iova_ranges', [
  ['size', 'u32'],
  ['ioas_id', 'u32'],
  ['num_iovas', 'u32'],
  ['__reserved', 'u32'],
  ['allowed_iovas', 'aligned_u64'],
  ['out_iova_alignment', 'aligned_u64'],
])
export const IOMMU_IOAS_IOVA_RANGES = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES)

// IOMMU_IOAS_ALLOW_IOVAS
export const iommu_ioas_allow_iovas = defineStruct('iommu_ioas_allow_iovas', [
  ['size', 'u32'],
  ['ioas_id', 'u32'],
  ['num_iovas', 'u32'],
  ['__reserved', 'u32'],
  ['allowed_iovas', 'aligned_u64'],
])
export const IOMMU_IOAS_ALLOW_IOVAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS)

// enum iommufd_ioas_map_flags: for IOMMU_IOAS_MAP, IOMMU_IOAS_MAP_FILE and IOMMU_IOAS_COPY.
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1
export const IOMMU_IOAS_MAP_READABLE = 1 << 2

// IOMMU_IOAS_MAP
export const iommu_ioas_map = defineStruct('iommu_ioas_map', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['ioas_id', 'u32'],
  ['__reserved', 'u32'],
  ['user_va', 'aligned_u64'],
  ['length', 'aligned_u64'],
  ['iova', 'aligned_u64'],
])
export const IOMMU_IOAS_MAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)

// IOMMU_IOAS_MAP_FILE: a memfd (or a supported dma-buf) instead of a user pointer.
export const iommu_ioas_map_file = defineStruct('iommu_ioas_map_file', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['ioas_id', 'u32'],
  ['fd', 's32'],
  ['start', 'aligned_u64'],
  ['length', 'aligned_u64'],
  ['iova', 'aligned_u64'],
])
export const IOMMU_IOAS_MAP_FILE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP_FILE)

// IOMMU_IOAS_COPY
export const iommu_ioas_copy = defineStruct('iommu_ioas_copy', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['dst_ioas_id', 'u32'],
  ['src_ioas_id', 'u32'],
  ['length', 'aligned_u64'],
  ['dst_iova', 'aligned_u64'],
  ['src_iova', 'aligned_u64'],
])
export const IOMMU_IOAS_COPY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY)

// IOMMU_IOAS_UNMAP: length returns the bytes unmapped; iova 0 with length U64_MAX unmaps all.
export const iommu_ioas_unmap = defineStruct('iommu_ioas_unmap', [
  ['size', 'u32'],
  ['ioas_id', 'u32'],
  ['iova', 'aligned_u64'],
  ['length', 'aligned_u64'],
])
export const IOMMU_IOAS_UNMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)

// enum iommufd_option
export const IOMMU_OPTION_RLIMIT_MODE = 0
export const IOMMU_OPTION_HUGE_PAGES = 1
// enum iommufd_option_ops
export const IOMMU_OPTION_OP_SET = 0
export const IOMMU_OPTION_OP_GET = 1

// IOMMU_OPTION: note the __u16 op.
export const iommu_option = defineStruct('iommu_option', [
  ['size', 'u32'],
  ['option_id', 'u32'],
  ['op', 'u16'],
  ['__reserved', 'u16'],
  ['object_id', 'u32'],
  ['val64', 'aligned_u64'],
])
export const IOMMU_OPTION = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION)

// enum iommufd_hwpt_alloc_flags
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3

// enum iommu_hwpt_vtd_s1_flags
export const IOMMU_VTD_S1_SRE = 1 << 0
export const IOMMU_VTD_S1_EAFE = 1 << 1
export const IOMMU_VTD_S1_WPE = 1 << 2

/** IOMMU_HWPT_ALLOC user data for IOMMU_HWPT_DATA_VTD_S1: the guest's stage-1 page table. */
export const iommu_hwpt_vtd_s1 = defineStruct('iommu_hwpt_vtd_s1', [
  ['flags', 'aligned_u64'],
  ['pgtbl_addr', 'aligned_u64'],
  ['addr_width', 'u32'],
  ['__reserved', 'u32'],
])

/** IOMMU_HWPT_ALLOC user data for IOMMU_HWPT_DATA_ARM_SMMUV3: STE words 0 and 1 (__aligned_le64). */
export const iommu_hwpt_arm_smmuv3 = defineStruct('iommu_hwpt_arm_smmuv3', [['ste', 'aligned_u64', 2]])

// enum iommu_hwpt_data_type
export const IOMMU_HWPT_DATA_NONE = 0
export const IOMMU_HWPT_DATA_VTD_S1 = 1
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2
export const IOMMU_HWPT_DATA_AMD_GUEST = 3

// IOMMU_HWPT_ALLOC: the kernel's minimum size ends at __reserved; data_* and fault_id came later.
export const iommu_hwpt_alloc = defineStruct('iommu_hwpt_alloc', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['dev_id', 'u32'],
  ['pt_id', 'u32'],
  ['out_hwpt_id', 'u32'],
  ['__reserved', 'u32'],
  ['data_type', 'u32'],
  ['data_len', 'u32'],
  ['data_uptr', 'aligned_u64'],
  ['fault_id', 'u32'],
  ['__reserved2', 'u32'],
])
export const IOMMU_HWPT_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC)

// enum iommu_hwpt_invalidate_data_type
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1

// enum iommu_hwpt_vtd_s1_invalidate_flags
export const IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0

/** One IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 request: addr 0 with npages U64_MAX is everything. */
export const iommu_hwpt_vtd_s1_invalidate = defineStruct('iommu_hwpt_vtd_s1_invalidate', [
  ['addr', 'aligned_u64'],
  ['npages', 'aligned_u64'],
  ['flags', 'u32'],
  ['__reserved', 'u32'],
])

/** One IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 request: a 128-bit CMDQ command (__aligned_le64). */
export const iommu_viommu_arm_smmuv3_invalidate = defineStruct('iommu_viommu_arm_smmuv3_invalidate', [
  ['cmd', 'aligned_u64', 2],
])

// IOMMU_HWPT_INVALIDATE: entry_num in, the entries handled out (written back on failure too).
export const iommu_hwpt_invalidate = defineStruct('iommu_hwpt_invalidate', [
  ['size', 'u32'],
  ['hwpt_id', 'u32'],
  ['data_uptr', 'aligned_u64'],
  ['data_type', 'u32'],
  ['entry_len', 'u32'],
  ['entry_num', 'u32'],
  ['__reserved', 'u32'],
])
export const IOMMU_HWPT_INVALIDATE = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE)

// enum iommu_viommu_type
export const IOMMU_VIOMMU_TYPE_DEFAULT = 0
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1
export const IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2

// IOMMU_VIOMMU_ALLOC: on a nest-parent HWPT, backed by dev_id's physical IOMMU.
export const iommu_viommu_alloc = defineStruct('iommu_viommu_alloc', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['type', 'u32'],
  ['dev_id', 'u32'],
  ['hwpt_id', 'u32'],
  ['out_viommu_id', 'u32'],
  ['data_len', 'u32'],
  ['__reserved', 'u32'],
  ['data_uptr', 'aligned_u64'],
])
export const IOMMU_VIOMMU_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VIOMMU_ALLOC)

// IOMMU_VDEVICE_ALLOC: virt_id is the device's id in the guest (vSID, vDeviceID, vRID).
export const iommu_vdevice_alloc = defineStruct('iommu_vdevice_alloc', [
  ['size', 'u32'],
  ['viommu_id', 'u32'],
  ['dev_id', 'u32'],
  ['out_vdevice_id', 'u32'],
  ['virt_id', 'aligned_u64'],
])
export const IOMMU_VDEVICE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VDEVICE_ALLOC)

// enum iommu_hw_info_vtd_flags
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0

/** IOMMU_GET_HW_INFO data for IOMMU_HW_INFO_TYPE_INTEL_VTD. */
export const iommu_hw_info_vtd = defineStruct('iommu_hw_info_vtd', [
  ['flags', 'u32'],
  ['__reserved', 'u32'],
  ['cap_reg', 'aligned_u64'],
  ['ecap_reg', 'aligned_u64'],
])

/** IOMMU_GET_HW_INFO data for IOMMU_HW_INFO_TYPE_ARM_SMMUV3. */
export const iommu_hw_info_arm_smmuv3 = defineStruct('iommu_hw_info_arm_smmuv3', [
  ['flags', 'u32'],
  ['__reserved', 'u32'],
  ['idr', 'u32', 6],
  ['iidr', 'u32'],
  ['aidr', 'u32'],
])

/** IOMMU_GET_HW_INFO data for IOMMU_HW_INFO_TYPE_AMD: the raw EFR and EFR2 registers. */
export const iommu_hw_info_amd = defineStruct('iommu_hw_info_amd', [
  ['efr', 'aligned_u64'],
  ['efr2', 'aligned_u64'],
])

// enum iommu_hw_info_type (NONE, as output, and DEFAULT, as input, are both 0)
export const IOMMU_HW_INFO_TYPE_NONE = 0
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3
export const IOMMU_HW_INFO_TYPE_AMD = 4

// enum iommufd_hw_capabilities: bits of iommu_hw_info.out_capabilities
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3

// enum iommufd_hw_info_flags
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0

// IOMMU_GET_HW_INFO: in_data_type and out_data_type are one __u32 (an anonymous union);
// in_data_type is read only with IOMMU_HW_INFO_FLAG_INPUT_TYPE.
export const iommu_hw_info = defineStruct('iommu_hw_info', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['dev_id', 'u32'],
  ['data_len', 'u32'],
  ['data_uptr', 'aligned_u64'],
  {
    union: [
      ['in_data_type', 'u32'],
      ['out_data_type', 'u32'],
    ],
  },
  ['out_max_pasid_log2', 'u8'],
  ['__reserved', 'u8', 3],
  ['out_capabilities', 'aligned_u64'],
])
export const IOMMU_GET_HW_INFO = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO)

// enum iommufd_hwpt_set_dirty_tracking_flags
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1

// IOMMU_HWPT_SET_DIRTY_TRACKING
export const iommu_hwpt_set_dirty_tracking = defineStruct('iommu_hwpt_set_dirty_tracking', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['hwpt_id', 'u32'],
  ['__reserved', 'u32'],
])
export const IOMMU_HWPT_SET_DIRTY_TRACKING = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING)

// enum iommufd_hwpt_get_dirty_bitmap_flags
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1

// IOMMU_HWPT_GET_DIRTY_BITMAP: data points at a bitmap of one bit per page_size from iova.
// Unlike most, hwpt_id comes before flags.
export const iommu_hwpt_get_dirty_bitmap = defineStruct('iommu_hwpt_get_dirty_bitmap', [
  ['size', 'u32'],
  ['hwpt_id', 'u32'],
  ['flags', 'u32'],
  ['__reserved', 'u32'],
  ['iova', 'aligned_u64'],
  ['length', 'aligned_u64'],
  ['page_size', 'aligned_u64'],
  ['data', 'aligned_u64'],
])
export const IOMMU_HWPT_GET_DIRTY_BITMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP)

// enum iommu_hwpt_pgfault_flags
export const IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1

// enum iommu_hwpt_pgfault_perm
export const IOMMU_PGFAULT_PERM_READ = 1 << 0
export const IOMMU_PGFAULT_PERM_WRITE = 1 << 1
export const IOMMU_PGFAULT_PERM_EXEC = 1 << 2
export const IOMMU_PGFAULT_PERM_PRIV = 1 << 3

/**
 * One page request as read() from a fault queue's descriptor: a group of them (grpid) ends
 * with IOMMU_PGFAULT_FLAGS_LAST_PAGE, whose cookie the response echoes.
 */
export const iommu_hwpt_pgfault = defineStruct('iommu_hwpt_pgfault', [
  ['flags', 'u32'],
  ['dev_id', 'u32'],
  ['pasid', 'u32'],
  ['grpid', 'u32'],
  ['perm', 'u32'],
  ['__reserved', 'u32'],
  ['addr', 'aligned_u64'],
  ['length', 'u32'],
  ['cookie', 'u32'],
])

// enum iommufd_page_response_code (PCIe 10.4.2.1: Success, Invalid Request)
export const IOMMUFD_PAGE_RESP_SUCCESS = 0
export const IOMMUFD_PAGE_RESP_INVALID = 1

/** What write() to a fault queue's descriptor answers a fault group with. */
export const iommu_hwpt_page_response = defineStruct('iommu_hwpt_page_response', [
  ['cookie', 'u32'],
  ['code', 'u32'],
])

// IOMMU_FAULT_QUEUE_ALLOC: a FAULT object and the descriptor its page requests are read from.
export const iommu_fault_alloc = defineStruct('iommu_fault_alloc', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['out_fault_id', 'u32'],
  ['out_fault_fd', 'u32'],
])
export const IOMMU_FAULT_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC)

// IOMMU_IOAS_CHANGE_PROCESS: moves the pinned-page charge of every map to the caller; EINVAL
// unless every map was made with IOMMU_IOAS_MAP_FILE.
export const iommu_ioas_change_process = defineStruct('iommu_ioas_change_process', [
  ['size', 'u32'],
  ['__reserved', 'u32'],
])
export const IOMMU_IOAS_CHANGE_PROCESS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_CHANGE_PROCESS)

// enum iommu_veventq_flag
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1 << 0

/**
 * What precedes each vEVENT read from a vEVENTQ: sequence runs 0 to INT_MAX and wraps to 0; a
 * header with IOMMU_VEVENTQ_FLAG_LOST_EVENTS has no data after it.
 */
export const iommufd_vevent_header = defineStruct('iommufd_vevent_header', [
  ['flags', 'u32'],
  ['sequence', 'u32'],
])

// enum iommu_veventq_type
export const IOMMU_VEVENTQ_TYPE_DEFAULT = 0
export const IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1
export const IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = 2

/** IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 data: a 256-bit SMMUv3 event record (__aligned_le64). */
export const iommu_vevent_arm_smmuv3 = defineStruct('iommu_vevent_arm_smmuv3', [['evt', 'aligned_u64', 4]])

/** IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV data: the 128-bit logical VCMDQ error map (__aligned_le64). */
export const iommu_vevent_tegra241_cmdqv = defineStruct('iommu_vevent_tegra241_cmdqv', [
  ['lvcmdq_err_map', 'aligned_u64', 2],
])

// IOMMU_VEVENTQ_ALLOC: one vEVENTQ per vIOMMU and type, holding at most veventq_depth events.
export const iommu_veventq_alloc = defineStruct('iommu_veventq_alloc', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['viommu_id', 'u32'],
  ['type', 'u32'],
  ['veventq_depth', 'u32'],
  ['out_veventq_id', 'u32'],
  ['out_veventq_fd', 'u32'],
  ['__reserved', 'u32'],
])
export const IOMMU_VEVENTQ_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VEVENTQ_ALLOC)

// enum iommu_hw_queue_type
export const IOMMU_HW_QUEUE_TYPE_DEFAULT = 0
export const IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV = 1

// IOMMU_HW_QUEUE_ALLOC: a vIOMMU's hardware-accelerated queue at an IOVA of its nest parent.
export const iommu_hw_queue_alloc = defineStruct('iommu_hw_queue_alloc', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['viommu_id', 'u32'],
  ['type', 'u32'],
  ['index', 'u32'],
  ['out_hw_queue_id', 'u32'],
  ['nesting_parent_iova', 'aligned_u64'],
  ['length', 'aligned_u64'],
])
export const IOMMU_HW_QUEUE_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HW_QUEUE_ALLOC)
