/**
 * What the guest scripts driving the kernel's iommufd selftest mock (IOMMU_TEST_CMD, test code
 * only) share: the command itself, mock devices, and a log of the kernel's answer per step.
 */
import {Iommufd} from '../../../src/iommufd/iommufd.js'
import {SyscallError} from '../../../src/native/errors.js'
import {ioctlStruct} from '../../../src/native/ioctl.js'
import {EncodeValues, StructValues} from '../../../src/native/layout.js'
import * as T from '../../../src/native/uapi/iommufd-test.js'

export type TestCmd = StructValues<typeof T.iommu_test_cmd>

/** The op names errors carry, from the constants' own names. */
const OP_NAMES = new Map(
  Object.entries(T)
    .filter(([name, value]) => name.startsWith('IOMMU_TEST_OP_') && typeof value === 'number')
    .map(([name, value]) => [value as number, name]),
)

/** One IOMMU_TEST_CMD on fd; returns the struct as the kernel left it, or throws SyscallError. */
export function testCmd(fd: Iommufd, op: number, id: number, values: EncodeValues<TestCmd> = {}): TestCmd {
  return ioctlStruct(fd.fd, `IOMMU_TEST_CMD ${OP_NAMES.get(op) ?? op}`, T.IOMMU_TEST_CMD, T.iommu_test_cmd, {
    ...values,
    op,
    id,
  })
}

/** A mock device on an IOAS or HWPT (IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS): its selftest, HWPT and device ids. */
export function mockDevice(
  fd: Iommufd,
  pt: number,
  devFlags: number,
): {stdev: number; hwpt: number; idev: number} {
  const out = testCmd(fd, T.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, pt, {'mock_domain_flags.dev_flags': devFlags})
  return {
    stdev: out['mock_domain_flags.out_stdev_id'],
    hwpt: out['mock_domain_flags.out_hwpt_id'],
    idev: out['mock_domain_flags.out_idev_id'],
  }
}

/** The kernel's answer to each step, in order: 'ok' or the errno name. */
export class CaseLog {
  readonly cases: {case: string; errno: string}[] = []

  record(name: string, fn: () => unknown): void {
    try {
      fn()
      this.cases.push({case: name, errno: 'ok'})
    } catch (error) {
      if (!(error instanceof SyscallError)) throw error
      this.cases.push({case: name, errno: error.errnoName})
    }
  }
}
