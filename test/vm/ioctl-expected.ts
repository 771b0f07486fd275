// What the 7.2 kernel answers to each case of test/vm/guest/ioctl-matrix.ts, by ioctl: read by
// test/vm/ioctls.test.ts, and by test/unit/ioctl-coverage.test.ts, which fails when the native
// layer defines an ioctl this table (and so the matrix) does not issue.
/**
 * What the 7.2 kernel answers, per ioctl and case. iommufd's contract (include/uapi/linux/
 * iommufd.h, drivers/iommu/iommufd/main.c): a size below the ioctl's minimum is EINVAL, a
 * longer struct with non-zero trailing bytes E2BIG, an unknown object ENOENT, an unknown flag
 * or reserved bit EOPNOTSUPP. VFIO (include/uapi/linux/vfio.h) answers EINVAL for a short argsz
 * and for unknown flags. Exceptions are noted where the kernel source makes them.
 */
export const EXPECTED: Record<string, Record<string, string>> = {
  IOMMU_IOAS_ALLOC: {success: 'ok', 'unknown flag': 'EOPNOTSUPP'},
  IOMMU_DESTROY: {success: 'ok', 'bad id': 'ENOENT'},
  IOMMU_IOAS_MAP: {
    success: 'ok',
    'success, fixed IOVA': 'ok',
    'bad id': 'ENOENT',
    'fixed IOVA already mapped': 'EEXIST',
    'unknown flag': 'EOPNOTSUPP',
    'length not a page multiple': 'EINVAL',
  },
  IOMMU_IOAS_MAP_FILE: {
    success: 'ok',
    'bad id': 'ENOENT',
    'bad file descriptor': 'EBADF',
    'unknown flag': 'EOPNOTSUPP',
  },
  // num_iovas too small: EMSGSIZE with the count needed (ioas.c).
  IOMMU_IOAS_IOVA_RANGES: {success: 'ok', 'bad id': 'ENOENT', 'no room for the ranges': 'EMSGSIZE'},
  IOMMU_IOAS_ALLOW_IOVAS: {success: 'ok', 'bad id': 'ENOENT', 'non-zero reserved': 'EOPNOTSUPP'},
  IOMMU_IOAS_COPY: {success: 'ok', 'bad id': 'ENOENT', 'unknown flag': 'EOPNOTSUPP'},
  IOMMU_IOAS_UNMAP: {success: 'ok', 'nothing mapped there': 'ENOENT', 'bad id': 'ENOENT'},
  IOMMU_OPTION: {
    'success, get RLIMIT_MODE': 'ok',
    'success, set HUGE_PAGES on an IOAS': 'ok',
    'bad id': 'ENOENT',
    'unknown option': 'EOPNOTSUPP',
    // ioas.c iommufd_option_rlimit_mode: only while the iommufd holds no object, else EBUSY.
    'success, set RLIMIT_MODE on an empty iommufd': 'ok',
    'set RLIMIT_MODE once there are objects': 'EBUSY',
  },
  IOMMU_GET_HW_INFO: {success: 'ok', 'bad id': 'ENOENT', 'unknown flag': 'EOPNOTSUPP'},
  IOMMU_HWPT_ALLOC: {
    success: 'ok',
    // hw_pagetable.c: a pt_id that names no IOAS or HWPT is EINVAL, not ENOENT.
    'bad id': 'EINVAL',
    // ../shared/VM.md: the emulated VT-d has no dirty tracking.
    'dirty tracking the unit lacks': 'EOPNOTSUPP',
    'unknown flag': 'EOPNOTSUPP',
    // intel/iommu.c intel_iommu_domain_alloc_paging_flags: NEST_PARENT without nested_supported
    // (ecap NEST, which QEMU's intel-iommu offers only with x-flts=on) is EOPNOTSUPP.
    'nest-parent on the emulated VT-d': 'EOPNOTSUPP',
    // selftest alloc_hwpt_nested: test_cmd_hwpt_alloc_iopf, and test_err_hwpt_alloc_iopf(ENOENT,
    // ..., UINT32_MAX, ...): iommufd_hwpt_alloc's iommufd_get_fault.
    'nested, reporting faults to a fault queue': 'ok',
    'a fault id that names nothing': 'ENOENT',
  },
  // On a nested HWPT of the selftest mock (selftest.c mock_domain_cache_invalidate_user);
  // hw_pagetable.c iommufd_hwpt_invalidate: a paging HWPT is EINVAL, __reserved EOPNOTSUPP.
  IOMMU_HWPT_INVALIDATE: {
    success: 'ok',
    'bad id': 'ENOENT',
    'a paging HWPT': 'EINVAL',
    'non-zero reserved': 'EOPNOTSUPP',
  },
  // viommu.c iommufd_viommu_alloc_ioctl: flags are EOPNOTSUPP, as is a driver without
  // get_viommu_size (VT-d's); an unknown device ENOENT.
  IOMMU_VIOMMU_ALLOC: {
    success: 'ok',
    'bad id': 'ENOENT',
    'on the emulated VT-d': 'EOPNOTSUPP',
    'unknown flag': 'EOPNOTSUPP',
  },
  // viommu.c iommufd_vdevice_alloc_ioctl: an unknown vIOMMU ENOENT, a device with a vDEVICE EEXIST.
  IOMMU_VDEVICE_ALLOC: {success: 'ok', 'bad id': 'ENOENT', 'a device that has one': 'EEXIST'},
  // eventq.c iommufd_fault_alloc: flags must be 0.
  IOMMU_FAULT_QUEUE_ALLOC: {success: 'ok', 'unknown flag': 'EOPNOTSUPP'},
  // eventq.c iommufd_veventq_alloc: flags EOPNOTSUPP, depth 0 EINVAL (checked before the
  // vIOMMU is looked up), an unknown vIOMMU ENOENT, one per type EEXIST (selftest vdevice_alloc).
  IOMMU_VEVENTQ_ALLOC: {
    success: 'ok',
    'bad id': 'ENOENT',
    'a second of the same type': 'EEXIST',
    'depth 0': 'EINVAL',
    'unknown flag': 'EOPNOTSUPP',
  },
  // viommu.c iommufd_hw_queue_alloc_ioctl: flags EOPNOTSUPP, an unknown vIOMMU ENOENT, an IOVA
  // not mapped ENOENT from the pin (selftest hw_queue: "Fail missing iova").
  IOMMU_HW_QUEUE_ALLOC: {
    success: 'ok',
    'bad id': 'ENOENT',
    'memory not mapped': 'ENOENT',
    'unknown flag': 'EOPNOTSUPP',
  },
  // ioas.c iommufd_ioas_change_process: only IOMMU_IOAS_MAP_FILE maps move, else EINVAL
  // (selftest change_process: "Expect failure if non-file maps exist"); __reserved EOPNOTSUPP.
  IOMMU_IOAS_CHANGE_PROCESS: {
    'a map of process memory': 'EINVAL',
    'success, only memfd maps': 'ok',
    'non-zero reserved': 'EOPNOTSUPP',
  },
  IOMMU_HWPT_SET_DIRTY_TRACKING: {
    'HWPT without dirty tracking': 'EOPNOTSUPP',
    'bad id': 'ENOENT',
    'unknown flag': 'EOPNOTSUPP',
  },
  IOMMU_HWPT_GET_DIRTY_BITMAP: {
    'HWPT without dirty tracking': 'EOPNOTSUPP',
    'bad id': 'ENOENT',
    'unknown flag': 'EOPNOTSUPP',
  },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: {
    'success, replace with the HWPT': 'ok',
    'bad id': 'ENOENT',
    // ../shared/VM.md: the e1000e has no PASID capability.
    'PASID on a device without PASID': 'EINVAL',
    'unknown flag': 'EINVAL',
    'argsz too small': 'EINVAL',
  },
  VFIO_DEVICE_GET_INFO: {success: 'ok', 'argsz too small': 'EINVAL', 'success through the group': 'ok'},
  // Detaching a PASID that was never attached is not an error: detach is idempotent.
  VFIO_DEVICE_DETACH_IOMMUFD_PT: {success: 'ok', 'PASID never attached': 'ok', 'unknown flag': 'EINVAL'},
  VFIO_DEVICE_BIND_IOMMUFD: {
    'already bound': 'EINVAL',
    'argsz too small': 'EINVAL',
    'bad iommufd descriptor': 'EBADF',
  },
  VFIO_GET_API_VERSION: {success: 'ok'},
  VFIO_CHECK_EXTENSION: {'success, TYPE1v2 supported': 'ok', 'unknown extension answers 0': 'ok'},
  VFIO_SET_IOMMU: {'before a group is set': 'EINVAL', success: 'ok'},
  VFIO_GROUP_GET_STATUS: {'success, viable': 'ok', 'argsz too small': 'EINVAL'},
  VFIO_GROUP_SET_CONTAINER: {success: 'ok'},
  VFIO_GROUP_GET_DEVICE_FD: {
    'before a container is set': 'EINVAL',
    success: 'ok',
    'no such device in the group': 'ENODEV',
  },
  VFIO_IOMMU_GET_INFO: {'success, with IOVA ranges': 'ok', 'argsz too small': 'EINVAL'},
  VFIO_IOMMU_MAP_DMA: {success: 'ok', 'size not a page multiple': 'EINVAL', 'overlapping IOVA': 'EEXIST'},
  VFIO_IOMMU_UNMAP_DMA: {success: 'ok', 'size not a page multiple': 'EINVAL'},
}
