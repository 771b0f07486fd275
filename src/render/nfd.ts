// `export --format nfd`: a feature file for node-feature-discovery's `local` source, which reads
// /etc/kubernetes/node-feature-discovery/features.d/ (NFD's docs/usage/customization-guide.md,
// "Local feature source", "Input format"): one `<namespace>/<name>[=<value>]` per line, `#`
// starts a comment, a file over 64 kB is ignored, dot files are ignored (so a temporary file
// renamed into place is never read half-written). Every name and value here is one of a fixed
// set, a kind or a number, so each is a valid Kubernetes label (63 characters at most,
// alphanumerics with - _ . inside).
import type {HostExport} from '../model/export.js'
import {UNIT_FEATURE_LABELS, UNIT_FEATURES} from '../decode/unit-features.js'

/** NFD's own label namespace (allowed by nfd-master by default), with the tool's name first. */
export const NFD_PREFIX = 'feature.node.kubernetes.io/iommuctl.'

export function renderNfd(e: HostExport): string {
  const f = e.features
  const labels: [string, string][] = [['enabled', String(f.iommu)]]
  if (f.mode !== null) labels.push(['mode', f.mode])
  for (const kind of f.unitKinds) labels.push([`unit.${kind}`, 'true'])
  for (const name of UNIT_FEATURES) {
    if (f[name] !== null) labels.push([UNIT_FEATURE_LABELS[name], String(f[name])])
  }
  labels.push(['interrupt-remapping-in-use', String(f.interruptRemappingInUse)])
  labels.push(['vfio-viable-groups', String(f.vfioViableGroups)])
  return (
    [
      `# node-feature-discovery feature file written by ${e.tool} export --format nfd`,
      ...labels.map(([name, value]) => `${NFD_PREFIX}${name}=${value}`),
    ].join('\n') + '\n'
  )
}
