// `export --format prometheus`: the text exposition format node_exporter's textfile collector
// reads (a HELP and a TYPE line before each metric's samples; label values with backslash,
// double quote and newline escaped). Every label value comes from a root, which may be anyone's:
// the escaping is what keeps it one sample.
import type {HostExport} from '../model/export.js'
import {UNIT_FEATURE_LABELS, UNIT_FEATURES} from '../decode/unit-features.js'

type Labels = Record<string, string>

interface Metric {
  name: string
  help: string
  type: 'gauge' | 'counter'
  samples: {labels: Labels; value: number}[]
}

/** A label value as the exposition format writes it: \\, \" and \n escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** HELP text escapes only backslash and newline. */
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

const bool = (b: boolean) => (b ? 1 : 0)

function metrics(e: HostExport): Metric[] {
  const gauge = (name: string, help: string, samples: Metric['samples']): Metric => ({
    name: `iommuctl_${name}`,
    help,
    type: 'gauge',
    samples,
  })
  const kinds = new Map<string, number>()
  for (const u of e.units.filter((x) => !x.selftest)) kinds.set(u.kind, (kinds.get(u.kind) ?? 0) + 1)
  const groups = new Map<string, {type: string; viable: string; n: number}>()
  for (const g of e.groups) {
    const key = `${g.type}\0${g.viable}`
    const entry = groups.get(key) ?? {type: g.type ?? 'unknown', viable: String(g.viable), n: 0}
    entry.n++
    groups.set(key, entry)
  }
  const vfio = e.vfioDevices
  const out: Metric[] = [
    gauge('iommu_present', 'Whether an IOMMU is present and in use (status check iommu.present).', [
      {labels: {}, value: bool(e.features.iommu)},
    ]),
    gauge(
      'iommu_mode',
      'How the default domains translate DMA: 1 for the mode in effect (passthrough, untranslated, translated-strict, translated-lazy).',
      e.features.mode === null ? [] : [{labels: {mode: e.features.mode}, value: 1}],
    ),
    gauge(
      'units',
      'IOMMU units by kind (the iommufd selftest mock left out).',
      [...kinds].map(([kind, n]) => ({labels: {kind}, value: n})),
    ),
    gauge(
      'unit_feature',
      'Whether a unit offers a feature (scalable-mode, pasid, nesting, dirty-tracking, interrupt-remapping), where its registers say.',
      e.units.flatMap((u) =>
        UNIT_FEATURES.filter((f) => u.features[f] !== null).map((f) => ({
          labels: {unit: u.name, kind: u.kind, feature: UNIT_FEATURE_LABELS[f]},
          value: bool(u.features[f]!),
        })),
      ),
    ),
    gauge(
      'groups',
      'IOMMU groups by default domain type and VFIO viability (every member on vfio-pci, pci-stub or no driver).',
      [...groups.values()].map((g) => ({labels: {type: g.type, viable: g.viable}, value: g.n})),
    ),
    gauge('vfio_devices', 'PCI devices bound to a VFIO driver.', [{labels: {}, value: vfio.length}]),
    gauge(
      'vfio_device',
      'A PCI device bound to a VFIO driver, with its driver and IOMMU group.',
      vfio.map((d) => ({
        labels: {bdf: d.bdf, driver: d.driver, group: d.group === null ? '' : String(d.group)},
        value: 1,
      })),
    ),
    gauge('status_ready', 'Whether no status check fails.', [{labels: {}, value: bool(e.status.ready)}]),
    gauge(
      'status_check_passed',
      'Whether a status check passes (0 when it warns, fails or is skipped).',
      e.status.checks.map((c) => ({labels: {check: c.id}, value: bool(c.result === 'pass')})),
    ),
    gauge(
      'status_check_failed',
      'Whether a status check fails.',
      e.status.checks.map((c) => ({labels: {check: c.id}, value: bool(c.result === 'fail')})),
    ),
    gauge(
      'faults_log_read',
      "Whether the kernel log could be read for the fault counts (the live host's /dev/kmsg needs CAP_SYSLOG).",
      [{labels: {}, value: bool(e.faults.read)}],
    ),
    {
      name: 'iommuctl_faults_total',
      help: 'IOMMU faults and events in the kernel log since boot, per device, kind and reason.',
      type: 'counter',
      samples: e.faults.counts.map((f) => ({
        labels: {bdf: f.bdf ?? '', kind: f.kind, reason: f.reason ?? ''},
        value: f.count,
      })),
    },
  ]
  return out
}

function sample(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
  return `${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${value}`
}

/** The whole file: HELP and TYPE for every metric, samples with the same labels merged (summed). */
export function renderPrometheus(e: HostExport): string {
  const lines: string[] = []
  for (const m of metrics(e)) {
    lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`)
    // Two fault groups can share device, kind and reason (the collector also tells them apart by
    // unit and access): one series each, or the file would repeat a series.
    const merged = new Map<string, {labels: Labels; value: number}>()
    for (const s of m.samples) {
      const key = JSON.stringify(s.labels)
      const prev = merged.get(key)
      if (prev) prev.value += s.value
      else merged.set(key, {...s})
    }
    for (const s of merged.values()) lines.push(sample(m.name, s.labels, s.value))
  }
  return lines.join('\n') + '\n'
}
