import {Args} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {explain} from '../iommufd/explain.js'
import {HwInfoRecord, readHwInfo} from '../model/hwinfo.js'
import {renderHwInfo} from '../render/hwinfo.js'
import {locateVfioDevice} from '../vfio/locate.js'

export default class HwInfo extends BaseCommand<typeof HwInfo> {
  static args = {
    bdf: Args.string({
      description: 'PCI address of a device on vfio-pci, e.g. 0000:00:03.0.',
      required: true,
    }),
  }

  static description = `Binds the device's VFIO cdev to a fresh iommufd and reports IOMMU_GET_HW_INFO: the IOMMU type and its registers (VT-d cap/ecap under the same field names as \`units show\`; an Arm SMMUv3's IDR0-IDR5, IIDR and AIDR decoded by the field names of the kernel's arm-smmu-v3.h, with its version, maker and a summary line; AMD EFR), the capabilities iommufd reports for this device (dirty tracking, PASID execute/privileged, ATS not supported), the PASID width, and the IOVA ranges an IOAS attached to this device would have. Everything is released before it exits. The device must be on vfio-pci.`

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
  ]

  static summary = 'Ask iommufd what the IOMMU can do for a device (IOMMU_GET_HW_INFO).'

  async run(): Promise<HwInfoRecord> {
    const loc = locateVfioDevice(this.root, this.args.bdf, 'cdev')
    let record: HwInfoRecord
    try {
      record = readHwInfo(loc)
    } catch (error) {
      throw explain(error)
    }
    if (!this.jsonEnabled()) this.log(renderHwInfo(record))
    return record
  }
}
