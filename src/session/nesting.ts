// The names sessions, plans and commands give nesting's kernel numbers (include/uapi/linux/
// iommufd.h; the selftest's from drivers/iommu/iommufd/iommufd_test.h), and the size of each
// invalidation entry.
import * as fs from 'node:fs'

import {ExitCode, IommuctlError} from '../errors.js'
import * as T from '../native/uapi/iommufd-test.js'
import * as U from '../native/uapi/iommufd.js'
import {readRegularFile} from './plan.js'
import type {HexBytes, HwptDataType, InvalidateDataType, VeventqType, ViommuType} from './plan.js'

/** The most bytes of driver data one request carries (the kernel bounds an entry by PAGE_SIZE). */
export const MAX_USER_DATA = 4096

export const HWPT_DATA_TYPES: Record<HwptDataType, number> = {
  'vtd-s1': U.IOMMU_HWPT_DATA_VTD_S1,
  'arm-smmuv3': U.IOMMU_HWPT_DATA_ARM_SMMUV3,
  selftest: T.IOMMU_HWPT_DATA_SELFTEST,
}

export const VIOMMU_TYPES: Record<ViommuType, number> = {
  'arm-smmuv3': U.IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  'tegra241-cmdqv': U.IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,
  selftest: T.IOMMU_VIOMMU_TYPE_SELFTEST,
}

/** A vEVENTQ's depth when none is given: the events it holds before it loses some. */
export const DEFAULT_VEVENTQ_DEPTH = 64

/** Each vEVENTQ type's kernel number and the size of its records (the kernel does not say it). */
export const VEVENTQ_TYPES: Record<VeventqType, {type: number; dataLen: number}> = {
  'arm-smmuv3': {type: U.IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, dataLen: U.iommu_vevent_arm_smmuv3.size},
  'tegra241-cmdqv': {type: U.IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV, dataLen: U.iommu_vevent_tegra241_cmdqv.size},
  selftest: {type: T.IOMMU_VEVENTQ_TYPE_SELFTEST, dataLen: T.iommu_viommu_event_selftest.size},
}

/**
 * The invalidation data types each kind of object takes: a nested HWPT the page-table caches of
 * its type, a vIOMMU its driver's commands. Each with its kernel number and entry size.
 */
export const INVALIDATE_TYPES: Record<
  'hwpt' | 'viommu',
  Partial<Record<InvalidateDataType, {type: number; entryLen: number}>>
> = {
  hwpt: {
    'vtd-s1': {type: U.IOMMU_HWPT_INVALIDATE_DATA_VTD_S1, entryLen: U.iommu_hwpt_vtd_s1_invalidate.size},
    selftest: {type: T.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, entryLen: T.iommu_hwpt_invalidate_selftest.size},
  },
  viommu: {
    'arm-smmuv3': {
      type: U.IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
      entryLen: U.iommu_viommu_arm_smmuv3_invalidate.size,
    },
    selftest: {
      type: T.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
      entryLen: T.iommu_viommu_invalidate_selftest.size,
    },
  },
}

/** HexBytes as bytes; a usage error naming `where` when it is not whole bytes of hex, or too many. */
export function hexBytes(where: string, text: HexBytes): Buffer {
  if (!/^([0-9a-fA-F]{2})+$/.test(text) || text.length > 2 * MAX_USER_DATA) {
    throw new IommuctlError(
      'USAGE',
      `${where}: give the struct's bytes as hex digits, two a byte, at most ${MAX_USER_DATA} bytes.`,
      {exit: ExitCode.usage},
    )
  }
  return Buffer.from(text, 'hex')
}

/**
 * A --data or --entries argument as HexBytes: the bytes of the file it names (a regular file of
 * at most MAX_USER_DATA bytes), or else hex digits, two a byte, in memory order.
 */
export function userDataArgument(flag: string, value: string): HexBytes {
  if (!fs.existsSync(value)) return hexBytes(flag, value).toString('hex')
  const bytes = readRegularFile(value, MAX_USER_DATA, {
    code: 'USAGE',
    name: `${flag}:`,
    suggestion: 'Give a file holding the struct, or its bytes as hex digits.',
  })
  if (bytes.length > MAX_USER_DATA || bytes.length === 0)
    throw new IommuctlError(
      'USAGE',
      `${flag}: ${value} holds ${bytes.length ? `more than ${MAX_USER_DATA}` : 'no'} bytes; a struct is 1 to ${MAX_USER_DATA}.`,
      {
        exit: ExitCode.usage,
        path: value,
      },
    )
  return bytes.toString('hex')
}
