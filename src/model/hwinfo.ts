import {AmdViFeatures, decodeAmdViEfr} from '../decode/amdvi.js'
import {decodeSmmuV3, SmmuV3Decoded, smmuV3Features} from '../decode/smmuv3.js'
import {parseVtdRegisters, VtdRegisters} from '../decode/vtd.js'
import {ExitCode, IommuctlError} from '../errors.js'
import {HwInfo, Iommufd} from '../iommufd/iommufd.js'
import {SyscallError} from '../native/errors.js'
import * as U from '../native/uapi/iommufd.js'
import {hex, Hex} from '../records.js'
import {BDF_PATTERN, UUID_PATTERN} from '../sysfs/inventory.js'
import {readMdevDevice} from '../sysfs/mdev.js'
import {Root} from '../sysfs/root.js'
import {VfioCdev} from '../vfio/cdev.js'
import {locateVfioCdev, locateVfioDevice} from '../vfio/locate.js'

export interface HwInfoRecord {
  /** The device asked about: its PCI address (or an mdev's UUID, should a kernel ever answer for one). */
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

/**
 * `hw-info DEVICE`: a PCI device on vfio-pci, or an mdev. An mdev is emulated: its parent's driver
 * registers it with vfio_register_emulated_iommu_dev, so VFIO_DEVICE_BIND_IOMMUFD makes an access
 * object (vfio_iommufd_emulated_bind, iommufd_access_create) and the id it answers is that
 * access's, which IOMMU_GET_HW_INFO's iommufd_get_device refuses with ENOENT (the object is not a
 * device). The kernel is still asked, and its refusal explained.
 */
export function readDeviceHwInfo(root: Root, device: string): HwInfoRecord {
  if (!UUID_PATTERN.test(device)) {
    return readHwInfo(device, locateVfioDevice(root, device, 'cdev').cdev!)
  }
  const cdev = locateVfioCdev(root, device)
  try {
    return readHwInfo(device, cdev)
  } catch (error) {
    if (!(
      error instanceof SyscallError &&
      error.op === 'IOMMU_GET_HW_INFO' &&
      error.errnoName === 'ENOENT'
    )) {
      throw error
    }
    const mdev = readMdevDevice(root, device)
    const parent = mdev?.parent ?? null
    const of = `${mdev?.type ?? 'an mdev'}${parent ? ` on ${parent}` : ''}`
    throw new IommuctlError(
      'EMULATED_DEVICE',
      `mdev ${device} (${of}) is emulated by its parent's driver and has no IOMMU of its own: binding its cdev made an iommufd access, not a device, and the kernel answered IOMMU_GET_HW_INFO with ENOENT. Its DMA is what its parent does for it: the parent's driver pins the pages it needs from the IOAS the mdev is attached to.`,
      {
        exit: ExitCode.unavailable,
        path: mdev?.sysfsPath,
        suggestion:
          parent && BDF_PATTERN.test(parent)
            ? `Ask about the parent device: \`iommuctl devices show ${parent}\` (its IOMMU group and domain), and \`iommuctl hw-info ${parent}\` when it is on vfio-pci.`
            : `Its parent${parent ? ` (${parent})` : ''} is not a PCI device, so no IOMMU stands behind it: see \`iommuctl mdevs list\`.`,
      },
    )
  }
}

/** Binds the device's cdev to a fresh iommufd, asks IOMMU_GET_HW_INFO and the IOVA ranges, and lets go. */
export function readHwInfo(device: string, cdev: string): HwInfoRecord {
  const iommufd = Iommufd.open()
  let dev: VfioCdev | undefined
  try {
    dev = VfioCdev.open(cdev)
    const devId = dev.bind(iommufd)
    const info = iommufd.hwInfo(devId)
    const ioas = iommufd.ioasAlloc()
    dev.attach(ioas)
    const ranges = iommufd.iovaRanges(ioas)
    return {
      bdf: device,
      cdev,
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

/** The registers in IOMMU_GET_HW_INFO's data, decoded (VT-d, SMMUv3, AMD), as `hw-info` shows them. */
export function decodeData(info: HwInfo): Pick<HwInfoRecord, 'vtd' | 'smmuv3' | 'amd'> {
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

/** What a device's IOMMU offers for nesting, as `probe --nested` tries it. */
export interface NestingOffer {
  /** The IOMMU type's name (TYPES). */
  type: string
  /** The nested HWPT data this type takes, and the data probe allocates with; null: none known. */
  nestedData: {type: number; name: string; bytes: Buffer; onViommu: boolean} | null
  /** The vIOMMU type to ask for; null: the 7.2 uAPI has none for this IOMMU. */
  viommu: {type: number; name: string} | null
  /** From the registers: why the kernel will not nest here, or null when they do not say it cannot. */
  cannot: string | null
}

/**
 * The nesting question for the IOMMU behind a device, from IOMMU_GET_HW_INFO: which nested data
 * type and vIOMMU type to try, and, where the registers already answer, why the kernel refuses a
 * nest-parent HWPT (intel/iommu.c: nested_supported() is scalable mode and ecap.NEST;
 * arm-smmu-v3.c: ARM_SMMU_FEAT_NESTING is both stages, less the errata of
 * arm_smmu_device_iidr_probe()).
 */
export function nestingOffer(info: HwInfo): NestingOffer {
  const type = TYPES[info.type] ?? 'unknown'
  const data = decodeData(info)
  if (data.vtd) {
    const ecap = data.vtd.ecapFields
    const cap = data.vtd.capFields
    // A stage-1 table of the guest, 48-bit (4-level); the kernel checks the table at attach.
    const bytes = U.iommu_hwpt_vtd_s1.encode({flags: 0n, pgtbl_addr: 0n, addr_width: 48, __reserved: 0})
    // hw/i386/intel_iommu.c vtd_cap_init: scalable mode sets SMTS, SRS and SLTS; x-flts=on sets
    // SMTS and FLTS instead; nothing sets NEST.
    const emulated = cap?.cm
      ? " cap.CM is set, as emulated units set it: QEMU's intel-iommu never sets ecap.NEST, and its x-flts=on gives first-level translation (ecap.FLTS) in place of second-level (ecap.SLTS), not nesting."
      : ''
    let cannot: string | null = null
    if (ecap && !ecap.smts)
      cannot = 'the VT-d unit is in legacy mode (ecap.SMTS 0): nesting needs scalable mode.'
    else if (ecap && !ecap.nest) cannot = `the VT-d unit has no nested translation (ecap.NEST 0).${emulated}`
    return {
      type,
      nestedData: {type: U.IOMMU_HWPT_DATA_VTD_S1, name: 'vtd-s1', bytes, onViommu: false},
      viommu: null,
      cannot,
    }
  }
  if (data.smmuv3) {
    const {idr0, implementation} = data.smmuv3
    let cannot: string | null = null
    if (!idr0.s1p || !idr0.s2p)
      cannot = `the SMMUv3 has ${idr0.s1p ? 'stage 1 only' : idr0.s2p ? 'stage 2 only' : 'no translation stage'} (IDR0 S1P ${Number(idr0.s1p)}, S2P ${Number(idr0.s2p)}): nesting needs both.`
    else if (!smmuV3Features(data.smmuv3).nesting)
      cannot = `the kernel turns nesting off on the ${implementation.implementerName} ${implementation.productName} r${implementation.variant}p${implementation.revision} for its errata (arm_smmu_device_iidr_probe).`
    // An STE with V clear: arm_smmu_validate_vste() makes it an abort STE, which the kernel takes.
    const bytes = U.iommu_hwpt_arm_smmuv3.encode({ste: [0n, 0n]})
    return {
      type,
      nestedData: {type: U.IOMMU_HWPT_DATA_ARM_SMMUV3, name: 'arm-smmuv3', bytes, onViommu: true},
      viommu: {type: U.IOMMU_VIOMMU_TYPE_ARM_SMMUV3, name: 'arm-smmuv3'},
      cannot,
    }
  }
  return {type, nestedData: null, viommu: null, cannot: null}
}
