/**
 * What a unit offers of the features users pick a host for, in one shape for every kind (the
 * NFD labels and the Prometheus gauges of `export`). Null: this kind has no such feature to
 * decode, or its registers were not readable.
 */
export interface UnitFeatures {
  /** VT-d scalable-mode translation (ecap SMTS); null for other kinds. */
  scalableMode: boolean | null
  pasid: boolean | null
  /** Nested (two-stage) translation, which iommufd's nesting parent HWPTs need. */
  nesting: boolean | null
  dirtyTracking: boolean | null
  interruptRemapping: boolean | null
}

export const UNIT_FEATURES = [
  'scalableMode',
  'pasid',
  'nesting',
  'dirtyTracking',
  'interruptRemapping',
] as const

export const UNKNOWN_FEATURES: UnitFeatures = {
  scalableMode: null,
  pasid: null,
  nesting: null,
  dirtyTracking: null,
  interruptRemapping: null,
}

/** Each feature's name in a label (Prometheus, NFD): lowercase words joined by hyphens. */
export const UNIT_FEATURE_LABELS: Record<(typeof UNIT_FEATURES)[number], string> = {
  scalableMode: 'scalable-mode',
  pasid: 'pasid',
  nesting: 'nesting',
  dirtyTracking: 'dirty-tracking',
  interruptRemapping: 'interrupt-remapping',
}
