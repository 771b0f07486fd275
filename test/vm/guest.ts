import {it} from 'node:test'

import {vmUnavailable} from './harness.js'

/**
 * `it` for tests that boot a guest. Where QEMU or busybox is missing they are skipped with the
 * reason, except under IOMMUCTL_REQUIRE_VM=1 (set by .ci/run), where that is a failure.
 */
export function vmIt(name: string, fn: () => Promise<void>): void {
  const missing = vmUnavailable()
  if (missing && process.env.IOMMUCTL_REQUIRE_VM !== '1') {
    it(name, {skip: missing}, () => {})
    return
  }
  it(name, async () => {
    if (missing) throw new Error(`the VM tier is required here but cannot run: ${missing}`)
    await fn()
  })
}

/** A shell listing, made in the guest without iommuctl, of what the kernel says about groups. */
export const KERNEL_GROUPS_SH = `for g in /sys/kernel/iommu_groups/*; do [ -d "$g" ] || continue; echo "$(basename $g) $(cat $g/type) $(ls $g/devices | tr '\\n' ' ')"; done`

export interface KernelGroup {
  id: number
  type: string
  devices: string[]
}

export function parseKernelGroups(text: string): KernelGroup[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, type, ...devices] = line.trim().split(/\s+/)
      return {id: Number(id), type: type ?? '', devices}
    })
    .sort((a, b) => a.id - b.id)
}
