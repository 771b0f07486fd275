/**
 * What `apply --exec` starts in the session test: proves the inherited descriptors work by
 * asking the kernel, on fd IOMMUCTL_IOMMUFD_FD, for the IOVA ranges of the IOAS the plan named
 * "main" (IOMMU_IOAS_IOVA_RANGES fails with ENOENT for an id that is not an IOAS in this
 * iommufd), and prints what it found as JSON.
 */
import {Iommufd} from '../../../src/iommufd/iommufd.js'

const fd = Number(process.env.IOMMUCTL_IOMMUFD_FD)
const objects = JSON.parse(process.env.IOMMUCTL_OBJECTS ?? '{}') as Record<string, number>
const iommufd = Iommufd.adopt(fd)
const ranges = iommufd.iovaRanges(objects.main!)
process.stdout.write(
  JSON.stringify({
    fd,
    devices: process.env.IOMMUCTL_DEVICE_FDS,
    objects,
    ranges: ranges.map((r) => ({start: `0x${r.start.toString(16)}`, last: `0x${r.last.toString(16)}`})),
  }) + '\n',
)
