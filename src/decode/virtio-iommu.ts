// Mirrors include/uapi/linux/virtio_iommu.h (feature bits) and include/uapi/linux/virtio_config.h.

import type {UnitFeatures} from './unit-features.js'

/** virtio-iommu feature bits, as the device offered and the driver accepted them. */
export interface VirtioIommuFeatures {
  inputRange: boolean
  domainRange: boolean
  mapUnmap: boolean
  bypass: boolean
  probe: boolean
  mmio: boolean
  bypassConfig: boolean
  version1: boolean
  accessPlatform: boolean
}

const BITS: [keyof VirtioIommuFeatures, number][] = [
  ['inputRange', 0], // VIRTIO_IOMMU_F_INPUT_RANGE
  ['domainRange', 1], // VIRTIO_IOMMU_F_DOMAIN_RANGE
  ['mapUnmap', 2], // VIRTIO_IOMMU_F_MAP_UNMAP
  ['bypass', 3], // VIRTIO_IOMMU_F_BYPASS
  ['probe', 4], // VIRTIO_IOMMU_F_PROBE
  ['mmio', 5], // VIRTIO_IOMMU_F_MMIO
  ['bypassConfig', 6], // VIRTIO_IOMMU_F_BYPASS_CONFIG
  ['version1', 32], // VIRTIO_F_VERSION_1
  ['accessPlatform', 33], // VIRTIO_F_ACCESS_PLATFORM
]

/**
 * Decodes the virtio bus's `features` attribute: one '0' or '1' per feature bit, bit 0 first
 * (drivers/virtio/virtio.c features_show). Null for anything else.
 */
export function decodeVirtioIommuFeatures(text: string | null): VirtioIommuFeatures | null {
  if (text === null || !/^[01]+$/.test(text)) return null
  const out = {} as VirtioIommuFeatures
  for (const [name, bit] of BITS) out[name] = text[bit] === '1'
  return out
}

export function virtioIommuSummary(f: VirtioIommuFeatures): string {
  const parts = [
    f.mapUnmap ? 'map/unmap' : null,
    f.probe ? 'probe (reserved regions from the device)' : null,
    f.bypassConfig || f.bypass ? 'bypass' : null,
    'no interrupt remapping',
  ]
  return parts.filter(Boolean).join(', ')
}

/** virtio-iommu has no PASIDs, nesting, dirty tracking or interrupt remapping (drivers/iommu/virtio-iommu.c). */
export const VIRTIO_IOMMU_UNIT_FEATURES: UnitFeatures = {
  scalableMode: null,
  pasid: false,
  nesting: false,
  dirtyTracking: false,
  interruptRemapping: false,
}
