// The VM ioctl matrix (test/vm/ioctls.test.ts) must issue every ioctl the native layer defines:
// a request number added to src/native/uapi/iommufd.ts or vfio.ts without a row in the matrix's
// table fails here, without a VM. Request numbers are _IO(';', nr), so (n >> 8) === 0x3b.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import * as iommufd from '../../src/native/uapi/iommufd.js'
import * as vfio from '../../src/native/uapi/vfio.js'
import {EXPECTED} from '../vm/ioctl-expected.js'

function requests(mod: object): string[] {
  return Object.entries(mod)
    .filter(([, v]) => typeof v === 'number' && v >> 8 === iommufd.IOMMUFD_TYPE)
    .map(([k]) => k)
    .sort()
}

describe('the ioctl matrix covers the native layer', () => {
  it('has a row, with a success or refusal case, for every request number defined', () => {
    const defined = [...requests(iommufd), ...requests(vfio)]
    assert.ok(defined.includes('IOMMU_HWPT_INVALIDATE') && defined.includes('VFIO_DEVICE_BIND_IOMMUFD'))
    assert.deepEqual(
      defined.filter((name) => !(name in EXPECTED)),
      [],
      'defined in src/native/uapi but not issued by test/vm/guest/ioctl-matrix.ts',
    )
    assert.deepEqual(
      Object.keys(EXPECTED).filter((name) => !defined.includes(name)),
      [],
      'in the matrix but not defined by the native layer',
    )
  })
})
