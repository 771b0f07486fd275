import {ExitCode, IommuctlError} from '../errors.js'
import {PartialSyscallError, SyscallError} from '../native/errors.js'

/** What an errno means for iommufd and VFIO calls, in the user's terms (include/uapi/linux/iommufd.h). */
const MEANING: Record<string, string> = {
  ENOTTY:
    'this kernel does not have this ioctl: it is too old, or built without it (CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV)',
  E2BIG: "the kernel's version of the struct is older than this tool's and it rejects the newer fields",
  EOPNOTSUPP: 'the IOMMU hardware or its driver does not support this',
  EBUSY: 'the device is in use: another process holds it open, or it is already bound',
  ENOENT: 'no such object (id) in this iommufd',
  EACCES: 'permission denied: see the mode and owner of the node (`iommuctl status`), or run as root',
  ENOMEM: 'out of memory, or over the locked-memory limit (RLIMIT_MEMLOCK)',
  EINVAL: 'the kernel rejected an argument',
}

/** Operation-specific readings, which beat the generic ones. */
function specific(op: string, errno: string): string | null {
  if (op === 'VFIO_DEVICE_BIND_IOMMUFD' && errno === 'EPERM') {
    return 'the platform has no interrupt remapping, so the device could forge interrupts; iommufd refuses it unless /sys/module/iommufd/parameters/allow_unsafe_interrupts is 1, which accepts that risk'
  }
  if (op === 'VFIO_DEVICE_BIND_IOMMUFD' && errno === 'EINVAL') {
    return 'the device is already in use: another process (or descriptor) has it bound, or opened it through its legacy VFIO group; a device is bound once at a time'
  }
  if (op.startsWith('open /dev/iommu') && errno === 'ENOENT') {
    return 'there is no /dev/iommu: the kernel lacks CONFIG_IOMMUFD or the iommufd module is not loaded (modprobe iommufd)'
  }
  if (op.startsWith('open /dev/vfio') && errno === 'EBUSY') return 'another process has the device open'
  if (op.includes('PASID') && errno === 'EINVAL')
    return 'the device cannot use this PASID: it has no PASID capability, or the PASID is out of its range'
  if (op.startsWith('IOMMU_IOAS_MAP') && errno === 'ENOMEM')
    return 'pinning the memory would exceed RLIMIT_MEMLOCK, or memory is short'
  if (op.startsWith('IOMMU_IOAS_MAP') && errno === 'EEXIST') return 'that IOVA range is already mapped'
  if (op.startsWith('IOMMU_IOAS_MAP') && errno === 'ENOSPC')
    return "no free IOVA range is large enough: see the IOAS's allowed ranges and the reserved regions"
  if (op === 'IOMMU_HWPT_ALLOC' && errno === 'ENOMEM')
    return "the kernel pins an IOAS's memory when its first page table is made, and that failed: memory is short, a hugetlbfs map has no free huge pages, or it is over RLIMIT_MEMLOCK"
  if (op === 'IOMMU_IOAS_UNMAP' && errno === 'ENOENT') return 'nothing is mapped there'
  if (op === 'IOMMU_HWPT_ALLOC' && errno === 'EINVAL')
    return "a nested HWPT's parent must be an HWPT allocated with nest-parent (or a vIOMMU on the device's own IOMMU), and a paging HWPT's an IOAS"
  if (op === 'IOMMU_VIOMMU_ALLOC' && errno === 'EINVAL')
    return 'a vIOMMU needs an HWPT allocated with nest-parent'
  if (op === 'IOMMU_VIOMMU_ALLOC' && errno === 'EOPNOTSUPP')
    return "the device's IOMMU driver has no vIOMMU of this type"
  if (op === 'IOMMU_VDEVICE_ALLOC' && errno === 'EEXIST')
    return 'the device already has a vDEVICE, or the vIOMMU already has one with this virtual id'
  if (op === 'IOMMU_VDEVICE_ALLOC' && errno === 'EINVAL') return "the vIOMMU is not on the device's IOMMU"
  if (op === 'IOMMU_HWPT_INVALIDATE' && errno === 'EINVAL')
    return 'the object is not a nested HWPT or vIOMMU, it does not take this data type, or an entry holds an invalid value'
  if (op === 'IOMMU_HWPT_INVALIDATE' && errno === 'EOPNOTSUPP')
    return 'an entry sets flags or reserved bits the driver does not know, or the object cannot be invalidated'
  if (op === 'IOMMU_IOAS_CHANGE_PROCESS' && errno === 'EINVAL')
    return 'only maps made from a file (IOMMU_IOAS_MAP_FILE: a memfd) can move to another process, and this iommufd has a map of process memory; nothing was moved'
  if (op === 'IOMMU_VEVENTQ_ALLOC' && errno === 'EEXIST')
    return 'the vIOMMU already has a vEVENTQ of this type'
  if (op === 'IOMMU_VEVENTQ_ALLOC' && errno === 'EINVAL') return 'the depth must be 1 to 524288 events'
  if (op === 'IOMMU_HW_QUEUE_ALLOC' && errno === 'EEXIST')
    return 'the vIOMMU already has a queue at this index'
  if (op === 'IOMMU_HW_QUEUE_ALLOC' && errno === 'EIO')
    return 'queues are allocated from index 0 up: the one before this index does not exist'
  if (op === 'IOMMU_HW_QUEUE_ALLOC' && errno === 'ENOENT')
    return "the queue's memory is not mapped at that IOVA of the nest parent's IOAS"
  if (op.startsWith('VFIO_DEVICE_ATTACH_IOMMUFD_PT') && errno === 'ENODEV')
    return 'the HWPT sends page requests to a fault queue, and the IOMMU driver turns I/O page faults on only for a device that can make them: one with PCI PRI (Page Request Interface) enabled (VT-d: intel_iommu_enable_iopf). Use an HWPT without --fault-queue for this device'
  if (op.startsWith('page response') && errno === 'EINVAL')
    return 'no fault group is waiting on that cookie (it was answered already, or never read)'
  return null
}

export function explainErrno(op: string, errno: string): string {
  return specific(op, errno) ?? MEANING[errno] ?? 'the kernel refused'
}

/** Turns a failed syscall into the error a user reads: what failed, why in their terms, the errno kept. */
export function explain(error: unknown): unknown {
  if (!(error instanceof SyscallError)) return error
  const unavailable =
    error.errnoName === 'ENOTTY' || (error.op.startsWith('open /dev/iommu') && error.errnoName === 'ENOENT')
  const partial =
    error instanceof PartialSyscallError
      ? ` It handled ${error.done} of ${error.of} entries, stopping at entry ${error.done}.`
      : ''
  return new IommuctlError(
    'SYSCALL_FAILED',
    `${error.op} failed (${error.errnoName}): ${explainErrno(error.op, error.errnoName)}.${partial}`,
    {
      errno: error.errnoName,
      exit: unavailable ? ExitCode.unavailable : ExitCode.failure,
    },
  )
}
