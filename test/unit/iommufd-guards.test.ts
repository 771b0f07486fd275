import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {Iommufd} from '../../src/iommufd/iommufd.js'
import {SyscallError} from '../../src/native/errors.js'

// On /dev/null every ioctl fails with ENOTTY, so what fails otherwise was refused before the kernel.
describe('Iommufd argument guards', () => {
  it('refuses a dirty-bitmap page size that is not a power of two, before the kernel can overrun the bitmap', () => {
    const fd = Iommufd.open('/dev/null')
    try {
      for (const size of [0n, 6144n, 3n]) {
        assert.throws(() => fd.dirtyBitmap(1, 0n, 1n << 20n, size), RangeError, String(size))
      }
      assert.throws(
        () => fd.dirtyBitmap(1, 0n, 1n << 20n, 4096n),
        (e: unknown) => e instanceof SyscallError && e.errnoName === 'ENOTTY',
      )
    } finally {
      fd.close()
      fd.close()
    }
  })
})
