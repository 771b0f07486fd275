import {Args} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {explain} from '../iommufd/explain.js'
import {HwInfoRecord, readDeviceHwInfo} from '../model/hwinfo.js'
import {renderHwInfo} from '../render/hwinfo.js'

export default class HwInfo extends BaseCommand<typeof HwInfo> {
  static args = {
    device: Args.string({
      description:
        'PCI address of a device on vfio-pci, e.g. 0000:00:03.0, or the UUID of a mediated device.',
      required: true,
    }),
  }

  static description = `Binds the device's VFIO cdev to a fresh iommufd and reports IOMMU_GET_HW_INFO: the IOMMU type and its registers (VT-d cap/ecap under the same field names as \`units show\`; an Arm SMMUv3's IDR0-IDR5, IIDR and AIDR decoded by the field names of the kernel's arm-smmu-v3.h, with its version, maker and a summary line; AMD EFR), the capabilities iommufd reports for this device (dirty tracking, PASID execute/privileged, ATS not supported), the PASID width, and the IOVA ranges an IOAS attached to this device would have. Everything is released before it exits. The device must be on vfio-pci. A mediated device (mdev) is emulated by its parent driver and has no IOMMU of its own: the kernel has no answer for it, and hw-info says so and names the parent.`

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 0000:00:03.0',
      description: 'What the IOMMU offers this device.',
    },
    {
      command:
        "sudo <%= config.bin %> <%= command.id %> 0000:00:03.0 --json | jq '.capabilities.dirtyTracking'",
      description: 'Can live migration track dirty pages for it?',
    },
    {
      command:
        "sudo <%= config.bin %> <%= command.id %> 0000:00:01.0 --json | jq '.smmuv3 | {version, summary, stages: [.idr0.s1p, .idr0.s2p]}'",
      description: 'On Arm: the SMMUv3 behind the device, its architecture version and its stages.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001',
      description: 'A mediated device: refused with exit 3, naming the parent whose driver does its DMA.',
    },
  ]

  static summary = 'Ask iommufd what the IOMMU can do for a device (IOMMU_GET_HW_INFO).'

  async run(): Promise<HwInfoRecord> {
    let record: HwInfoRecord
    try {
      record = readDeviceHwInfo(this.root, this.args.device)
    } catch (error) {
      throw explain(error)
    }
    if (!this.jsonEnabled()) this.log(renderHwInfo(record))
    return record
  }
}
