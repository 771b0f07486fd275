import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode} from '../errors.js'
import {explain} from '../iommufd/explain.js'
import {ProbeRecord, runLegacyProbe, runProbe} from '../model/probe.js'
import {renderProbe} from '../render/probe.js'
import {hostKernel} from '../session/kernel.js'
import {locateVfioDevice} from '../vfio/locate.js'

export default class Probe extends BaseCommand<typeof Probe> {
  static args = {
    bdf: Args.string({
      description: 'PCI address of a device on vfio-pci, e.g. 0000:00:03.0.',
      required: true,
    }),
  }

  static description = `The quick answer to "will this device work with iommufd here?": opens /dev/iommu, allocates an IOAS, binds the device's VFIO cdev, attaches it, maps a 2 MiB buffer at a kernel-chosen and at a fixed IOVA, reads the IOVA ranges, allocates HWPTs (plain, with dirty tracking, as a nest parent), attaches to the HWPT, tries a PASID attach, then takes down what it made, last made first: PASID detach, detach, the HWPTs, the maps, the IOAS. Each step reports ok, unsupported (with the reason) or failed. The device is left as it was found. With --nested it also asks what nesting the device's IOMMU offers: it reads IOMMU_GET_HW_INFO, then allocates a vIOMMU (where the uAPI has a type for the IOMMU: arm-smmuv3) and a nested HWPT (VT-d stage-1 data on the nest parent, an SMMUv3 STE on the vIOMMU), and where the kernel refused the nest parent it says from the registers why (VT-d: legacy mode or no ecap.NEST, as on QEMU's intel-iommu; SMMUv3: one stage only, or an erratum the kernel knows). With --legacy the same question goes through the VFIO container and group (type1v2): API version, extension, group viability, set container and IOMMU, the IOMMU info with its IOVA ranges, a DMA map and unmap, and the device fd.

Exit status: 0 when no step failed (unsupported features are not failures), 1 otherwise.`

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 0000:00:03.0',
      description: 'Exercise iommufd with one device.',
    },
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> 0000:00:03.0 --json | jq -r \'.steps[] | select(.result != "ok") | .step + ": " + .detail\'',
      description: 'Only what did not work, and why.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> 0000:00:03.0 --nested',
      description:
        'Can a VMM give a guest nested translation with this device (nest parent, vIOMMU, nested HWPT)?',
    },
  ]

  static flags = {
    legacy: Flags.boolean({
      default: false,
      exclusive: ['nested'],
      summary: 'Use the legacy VFIO container and group (/dev/vfio/vfio, type1v2) instead of iommufd.',
    }),
    nested: Flags.boolean({
      default: false,
      exclusive: ['legacy'],
      summary:
        "Also try nesting: the IOMMU's hardware info, a vIOMMU and a nested HWPT, and why not where refused.",
    }),
  }

  static summary = 'Run a whole iommufd create/attach/map/teardown cycle on a device, step by step.'

  async run(): Promise<ProbeRecord> {
    const {legacy, nested} = this.flags
    let record: ProbeRecord
    try {
      record = legacy
        ? runLegacyProbe(locateVfioDevice(this.root, this.args.bdf, 'group'))
        : runProbe(hostKernel(this.root), this.args.bdf, {nested})
    } catch (error) {
      throw explain(error)
    }
    if (!this.jsonEnabled()) this.log(renderProbe(record))
    process.exitCode = record.ok ? ExitCode.ok : ExitCode.failure
    return record
  }
}
