// Mirrors drivers/iommu/iommufd/iommufd_test.h of Linux 7.2: IOMMU_TEST_CMD, the iommufd
// selftest ioctl of kernels built with CONFIG_IOMMUFD_TEST, which creates mock domains and
// devices (with PASID support when asked). For tests only; not a UAPI header.
//
// struct iommu_test_cmd is defined whole, its anonymous union with every per-op member, so that
// its size is the kernel's (72: 16 bytes of header, a 48-byte union, `last`, tail padding).
// Union members are named `<member>.<field>`:
//
//     iommu_test_cmd.encode({op: IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, id: ioasId,
//                            'mock_domain_flags.dev_flags': MOCK_FLAGS_DEVICE_PASID})
//     iommu_test_cmd.decode(buf)['mock_domain_flags.out_stdev_id']
import {_IO, anonymousStruct, defineStruct} from '../layout.js'
import {IOMMUFD_CMD_BASE, IOMMUFD_TYPE} from './iommufd.js'

// The ops, in enum order.
export const IOMMU_TEST_OP_ADD_RESERVED = 1
export const IOMMU_TEST_OP_MOCK_DOMAIN = 2
export const IOMMU_TEST_OP_MD_CHECK_MAP = 3
export const IOMMU_TEST_OP_MD_CHECK_REFS = 4
export const IOMMU_TEST_OP_CREATE_ACCESS = 5
export const IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = 6
export const IOMMU_TEST_OP_ACCESS_PAGES = 7
export const IOMMU_TEST_OP_ACCESS_RW = 8
export const IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9
export const IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = 10
export const IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = 11
export const IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = 12
export const IOMMU_TEST_OP_DIRTY = 13
export const IOMMU_TEST_OP_MD_CHECK_IOTLB = 14
export const IOMMU_TEST_OP_TRIGGER_IOPF = 15
export const IOMMU_TEST_OP_DEV_CHECK_CACHE = 16
export const IOMMU_TEST_OP_TRIGGER_VEVENT = 17
export const IOMMU_TEST_OP_PASID_ATTACH = 18
export const IOMMU_TEST_OP_PASID_REPLACE = 19
export const IOMMU_TEST_OP_PASID_DETACH = 20
export const IOMMU_TEST_OP_PASID_CHECK_HWPT = 21
export const IOMMU_TEST_OP_DMABUF_GET = 22
export const IOMMU_TEST_OP_DMABUF_REVOKE = 23

// The mock domain's IOVA aperture and page size (MOCK_IOMMUPT_DEFAULT).
export const MOCK_APERTURE_START = 1 << 24
export const MOCK_APERTURE_LAST = 2 ** 31 - 1
export const MOCK_PAGE_SIZE = 2048

// mock_domain_flags.dev_flags
export const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0
export const MOCK_FLAGS_DEVICE_PASID = 1 << 2

/** The mock device's PASID width (out_max_pasid_log2 from IOMMU_GET_HW_INFO). */
export const MOCK_PASID_WIDTH = 20
/** A PASID the mock driver reserves for its special replace test. */
export const IOMMU_TEST_PASID_RESERVED = 1024

export const iommu_test_cmd = defineStruct('iommu_test_cmd', [
  ['size', 'u32'],
  ['op', 'u32'],
  ['id', 'u32'],
  ['__reserved', 'u32'],
  {
    union: [
      [
        'add_reserved',
        anonymousStruct([
          ['start', 'aligned_u64'],
          ['length', 'aligned_u64'],
        ]),
      ],
      // IOMMU_TEST_OP_MOCK_DOMAIN: id is the IOAS (or HWPT) to attach the new mock device to.
      [
        'mock_domain',
        anonymousStruct([
          ['out_stdev_id', 'u32'],
          ['out_hwpt_id', 'u32'],
          ['out_idev_id', 'u32'],
        ]),
      ],
      // IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: mock_domain plus dev_flags (MOCK_FLAGS_DEVICE_*).
      [
        'mock_domain_flags',
        anonymousStruct([
          ['out_stdev_id', 'u32'],
          ['out_hwpt_id', 'u32'],
          ['out_idev_id', 'u32'],
          ['dev_flags', 'u32'],
        ]),
      ],
      ['mock_domain_replace', anonymousStruct([['pt_id', 'u32']])],
      [
        'check_map',
        anonymousStruct([
          ['iova', 'aligned_u64'],
          ['length', 'aligned_u64'],
          ['uptr', 'aligned_u64'],
        ]),
      ],
      [
        'check_refs',
        anonymousStruct([
          ['length', 'aligned_u64'],
          ['uptr', 'aligned_u64'],
          ['refs', 'u32'],
        ]),
      ],
      [
        'create_access',
        anonymousStruct([
          ['out_access_fd', 'u32'],
          ['flags', 'u32'],
        ]),
      ],
      ['destroy_access_pages', anonymousStruct([['access_pages_id', 'u32']])],
      [
        'access_pages',
        anonymousStruct([
          ['flags', 'u32'],
          ['out_access_pages_id', 'u32'],
          ['iova', 'aligned_u64'],
          ['length', 'aligned_u64'],
          ['uptr', 'aligned_u64'],
        ]),
      ],
      [
        'access_rw',
        anonymousStruct([
          ['iova', 'aligned_u64'],
          ['length', 'aligned_u64'],
          ['uptr', 'aligned_u64'],
          ['flags', 'u32'],
        ]),
      ],
      ['memory_limit', anonymousStruct([['limit', 'u32']])],
      ['access_replace_ioas', anonymousStruct([['ioas_id', 'u32']])],
      // The largest member: 48 bytes, with padding after flags.
      [
        'dirty',
        anonymousStruct([
          ['flags', 'u32'],
          ['iova', 'aligned_u64'],
          ['length', 'aligned_u64'],
          ['page_size', 'aligned_u64'],
          ['uptr', 'aligned_u64'],
          ['out_nr_dirty', 'aligned_u64'],
        ]),
      ],
      [
        'check_iotlb',
        anonymousStruct([
          ['id', 'u32'],
          ['iotlb', 'u32'],
        ]),
      ],
      [
        'trigger_iopf',
        anonymousStruct([
          ['dev_id', 'u32'],
          ['pasid', 'u32'],
          ['grpid', 'u32'],
          ['perm', 'u32'],
          ['addr', 'u64'],
        ]),
      ],
      [
        'check_dev_cache',
        anonymousStruct([
          ['id', 'u32'],
          ['cache', 'u32'],
        ]),
      ],
      ['trigger_vevent', anonymousStruct([['dev_id', 'u32']])],
      // The PASID ops: id is the mock device (stdev_id).
      [
        'pasid_attach',
        anonymousStruct([
          ['pasid', 'u32'],
          ['pt_id', 'u32'],
        ]),
      ],
      [
        'pasid_replace',
        anonymousStruct([
          ['pasid', 'u32'],
          ['pt_id', 'u32'],
        ]),
      ],
      ['pasid_detach', anonymousStruct([['pasid', 'u32']])],
      // IOMMU_TEST_OP_PASID_CHECK_HWPT: hwpt_id 0 checks that nothing is attached.
      [
        'pasid_check',
        anonymousStruct([
          ['pasid', 'u32'],
          ['hwpt_id', 'u32'],
        ]),
      ],
      [
        'dmabuf_get',
        anonymousStruct([
          ['length', 'u32'],
          ['open_flags', 'u32'],
        ]),
      ],
      [
        'dmabuf_revoke',
        anonymousStruct([
          ['dmabuf_fd', 's32'],
          ['revoked', 'u32'],
        ]),
      ],
    ],
  },
  ['last', 'u32'],
])
export const IOMMU_TEST_CMD = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

// IOMMU_GET_HW_INFO on a mock device reports this type and data.
export const IOMMU_HW_INFO_TYPE_SELFTEST = 0xfeedbeef
export const IOMMU_HW_INFO_SELFTEST_REGVAL = 0xdeadbeef
export const iommu_test_hw_info = defineStruct('iommu_test_hw_info', [
  ['flags', 'u32'],
  ['test_reg', 'u32'],
])

/** IOMMU_HWPT_ALLOC data type of the mock's nested HWPTs (not one of enum iommu_hwpt_data_type). */
export const IOMMU_HWPT_DATA_SELFTEST = 0xdead
/** What every entry of a mock nested HWPT's IOTLB starts as, when the data says so. */
export const IOMMU_TEST_IOTLB_DEFAULT = 0xbadbeef
// The mock nested domain's IOTLB: entries 0 to MOCK_NESTED_DOMAIN_IOTLB_ID_MAX.
export const MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = 3
export const MOCK_NESTED_DOMAIN_IOTLB_NUM = 4

/** IOMMU_HWPT_DATA_SELFTEST data; the mock reads up to iotlb at least. */
export const iommu_hwpt_selftest = defineStruct('iommu_hwpt_selftest', [
  ['iotlb', 'u32'],
  ['pagetable_type', 'u32'],
])

// IOMMU_HWPT_INVALIDATE data types of the mock, and one it refuses.
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST = 0xdeadbeef
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef
/** iommu_hwpt_invalidate_selftest.flags: every IOTLB entry, iotlb_id ignored. */
export const IOMMU_TEST_INVALIDATE_FLAG_ALL = 1 << 0

export const iommu_hwpt_invalidate_selftest = defineStruct('iommu_hwpt_invalidate_selftest', [
  ['flags', 'u32'],
  ['iotlb_id', 'u32'],
])

/** IOMMU_VIOMMU_ALLOC type of the mock's vIOMMU. */
export const IOMMU_VIOMMU_TYPE_SELFTEST = 0xdeadbeef

// IOMMU_HWPT_INVALIDATE data types for the mock's vIOMMU, and one it refuses.
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST = 0xdeadbeef
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef

/** One IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST request: a cache entry of the device at vdev_id. */
export const iommu_viommu_invalidate_selftest = defineStruct('iommu_viommu_invalidate_selftest', [
  ['flags', 'u32'],
  ['vdev_id', 'u32'],
  ['cache_id', 'u32'],
])

/** IOMMU_VEVENTQ_ALLOC type of the mock's vEVENTQ, the one IOMMU_TEST_OP_TRIGGER_VEVENT reports to. */
export const IOMMU_VEVENTQ_TYPE_SELFTEST = 0xbeefbeef

/** The data of a mock vEVENT: the virtual id of the device it is about. */
export const iommu_viommu_event_selftest = defineStruct('iommu_viommu_event_selftest', [['virt_id', 'u32']])

/** IOMMU_HW_QUEUE_ALLOC type of the mock's HW queue, and how many (indexes 0 and 1) a vIOMMU has. */
export const IOMMU_HW_QUEUE_TYPE_SELFTEST = 0xdeadbeef
export const IOMMU_TEST_HW_QUEUE_MAX = 2
