import {AmdViFeatures, decodeAmdViEfr} from '../decode/amdvi.js'
import {decodeSmmuV3, SmmuV3Decoded} from '../decode/smmuv3.js'
import {parseVtdRegisters, VtdRegisters} from '../decode/vtd.js'
import {HwInfo, Iommufd} from '../iommufd/iommufd.js'
import * as U from '../native/uapi/iommufd.js'
import {hex, Hex} from '../records.js'
import {VfioCdev} from '../vfio/cdev.js'
import {VfioLocation} from '../vfio/locate.js'

export interface HwInfoRecord {
  bdf: string
  cdev: string
  /** IOMMU_GET_HW_INFO out_data_type: intel-vtd, arm-smmuv3, amd, none, or unknown. */
  type: string
  typeId: number
  capabilities: {
    raw: Hex
    dirtyTracking: boolean
    pasidExecute: boolean
    pasidPrivileged: boolean
    atsNotSupported: boolean
  }
  /** PASID width the IOMMU and device together support; 0 means no PASID. */
  maxPasidLog2: number
  /** The unit's registers under the same field names as `iommuctl units show`. */
  vtd: (VtdRegisters & {flags: Hex}) | null
  /** The raw ID registers (IDR0-IDR5, IIDR, AIDR) and their fields by the kernel's names. */
  smmuv3: ({flags: Hex; idr: Hex[]; iidr: Hex; aidr: Hex} & SmmuV3Decoded) | null
  amd: {efr: Hex; efr2: Hex; features: AmdViFeatures} | null
  /** The IOVA ranges an IOAS attached to this device would have. */
  iovaRanges: {start: Hex; last: Hex}[]
}

const TYPES: Record<number, string> = {
  [U.IOMMU_HW_INFO_TYPE_NONE]: 'none',
  [U.IOMMU_HW_INFO_TYPE_INTEL_VTD]: 'intel-vtd',
  [U.IOMMU_HW_INFO_TYPE_ARM_SMMUV3]: 'arm-smmuv3',
  [U.IOMMU_HW_INFO_TYPE_AMD]: 'amd',
}

/** Binds the device to a fresh iommufd, asks IOMMU_GET_HW_INFO and the IOVA ranges, and lets go. */
export function readHwInfo(loc: VfioLocation): HwInfoRecord {
  const iommufd = Iommufd.open()
  let dev: VfioCdev | undefined
  try {
    dev = VfioCdev.open(loc.cdev!)
    const devId = dev.bind(iommufd)
    const info = iommufd.hwInfo(devId)
    const ioas = iommufd.ioasAlloc()
    dev.attach(ioas)
    const ranges = iommufd.iovaRanges(ioas)
    return {
      bdf: loc.bdf,
      cdev: loc.cdev!,
      type: TYPES[info.type] ?? 'unknown',
      typeId: info.type,
      capabilities: {
        raw: hex(info.capabilities),
        dirtyTracking: (info.capabilities & BigInt(U.IOMMU_HW_CAP_DIRTY_TRACKING)) !== 0n,
        pasidExecute: (info.capabilities & BigInt(U.IOMMU_HW_CAP_PCI_PASID_EXEC)) !== 0n,
        pasidPrivileged: (info.capabilities & BigInt(U.IOMMU_HW_CAP_PCI_PASID_PRIV)) !== 0n,
        atsNotSupported: (info.capabilities & BigInt(U.IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED)) !== 0n,
      },
      maxPasidLog2: info.maxPasidLog2,
      ...decodeData(info),
      iovaRanges: ranges.map((r) => ({start: hex(r.start), last: hex(r.last)})),
    }
  } finally {
    dev?.close()
    iommufd.close()
  }
}

function decodeData(info: HwInfo): Pick<HwInfoRecord, 'vtd' | 'smmuv3' | 'amd'> {
  const out: Pick<HwInfoRecord, 'vtd' | 'smmuv3' | 'amd'> = {vtd: null, smmuv3: null, amd: null}
  if (info.type === U.IOMMU_HW_INFO_TYPE_INTEL_VTD && info.data.length >= U.iommu_hw_info_vtd.size) {
    const d = U.iommu_hw_info_vtd.decode(info.data)
    const regs = parseVtdRegisters({
      version: null,
      address: null,
      cap: d.cap_reg.toString(16),
      ecap: d.ecap_reg.toString(16),
    })
    out.vtd = {...regs, flags: hex(d.flags)}
  } else if (
    info.type === U.IOMMU_HW_INFO_TYPE_ARM_SMMUV3 &&
    info.data.length >= U.iommu_hw_info_arm_smmuv3.size
  ) {
    const d = U.iommu_hw_info_arm_smmuv3.decode(info.data)
    out.smmuv3 = {
      flags: hex(d.flags),
      idr: d.idr.map(hex),
      iidr: hex(d.iidr),
      aidr: hex(d.aidr),
      ...decodeSmmuV3(d.idr.map(Number), Number(d.iidr), Number(d.aidr)),
    }
  } else if (info.type === U.IOMMU_HW_INFO_TYPE_AMD && info.data.length >= U.iommu_hw_info_amd.size) {
    const d = U.iommu_hw_info_amd.decode(info.data)
    out.amd = {efr: hex(d.efr), efr2: hex(d.efr2), features: decodeAmdViEfr(d.efr, d.efr2)}
  }
  return out
}
