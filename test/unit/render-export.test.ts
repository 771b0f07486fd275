import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {HostExport, readExport} from '../../src/model/export.js'
import {NFD_PREFIX, renderNfd} from '../../src/render/nfd.js'
import {escapeLabelValue, renderPrometheus} from '../../src/render/prometheus.js'
import {fixtureRoot} from '../helpers/roots.js'

const exported = (name: string) => readExport(fixtureRoot(name), 'iommuctl test')

/** Samples of one metric, as "labels value" text after the name. */
function samples(text: string, metric: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${metric}{`) || l.startsWith(`${metric} `))
    .map((l) => l.slice(metric.length))
}

/** The node labels a feature file makes: name (after the prefix) to value, "true" when none is given. */
function nfdLabels(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const [key, value = 'true'] = line.split('=')
    out.set(key!.slice(NFD_PREFIX.length), value)
  }
  return out
}

describe('renderPrometheus', () => {
  it('escapes label values as the exposition format says: backslash, double quote, newline', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd')
    assert.equal(escapeLabelValue('plain text 0x1f'), 'plain text 0x1f')
  })

  it('a HELP and a TYPE line precede the samples of every metric, each series once', async () => {
    const text = renderPrometheus(await exported('intel'))
    const lines = text.trimEnd().split('\n')
    const seen = new Set<string>()
    let current: string | null = null
    for (const [i, line] of lines.entries()) {
      const help = /^# HELP (\S+) /.exec(line)
      if (help) {
        assert.match(lines[i + 1]!, new RegExp(`^# TYPE ${help[1]} (gauge|counter)$`))
        current = help[1]!
        continue
      }
      if (line.startsWith('# TYPE ')) continue
      const series = line.slice(0, line.lastIndexOf(' '))
      assert.equal(series.split('{')[0], current, `${line} outside its metric`)
      assert.ok(!seen.has(series), `${series} twice`)
      seen.add(series)
    }
  })

  it('says what each fixture is: an IOMMU or none, its unit kind, a failing check', async () => {
    const intel = renderPrometheus(await exported('intel'))
    assert.deepEqual(samples(intel, 'iommuctl_iommu_present'), [' 1'])
    assert.deepEqual(samples(intel, 'iommuctl_units'), ['{kind="intel-vtd"} 1'])
    assert.ok(
      samples(intel, 'iommuctl_unit_feature').includes('{unit="dmar0",kind="intel-vtd",feature="pasid"} 1'),
    )
    const none = renderPrometheus(await exported('none'))
    assert.deepEqual(samples(none, 'iommuctl_iommu_present'), [' 0'])
    assert.deepEqual(samples(none, 'iommuctl_iommu_mode'), [])
    // virtio-iommu remaps no interrupts: its irq.remapping check fails (as `status` says).
    const virtio = renderPrometheus(await exported('virtio'))
    assert.ok(samples(virtio, 'iommuctl_status_check_failed').includes('{check="irq.remapping"} 1'))
    assert.deepEqual(samples(virtio, 'iommuctl_status_ready'), [' 0'])
    const amd = renderPrometheus(await exported('amd'))
    assert.deepEqual(samples(amd, 'iommuctl_units'), ['{kind="amd-vi"} 1'])
    // iommu=pt in the amd topology: every group identity.
    assert.deepEqual(samples(amd, 'iommuctl_iommu_mode'), ['{mode="passthrough"} 1'])
  })

  it('a hostile fault reason stays one sample, escaped; the same series from two groups is summed', async () => {
    const e: HostExport = await exported('intel')
    const reason = 'bad"reason\\\nevil_metric 1'
    const hostile = {
      ...e,
      faults: {
        read: true,
        reason: null,
        counts: [
          {bdf: '0000:00:03.0', kind: 'dma', reason, count: 2},
          {bdf: '0000:00:03.0', kind: 'dma', reason, count: 3},
        ],
      },
    }
    const text = renderPrometheus(hostile)
    assert.deepEqual(samples(text, 'iommuctl_faults_total'), [
      '{bdf="0000:00:03.0",kind="dma",reason="bad\\"reason\\\\\\nevil_metric 1"} 5',
    ])
    assert.ok(!text.split('\n').some((l) => l.startsWith('evil_metric')))
  })
})

describe('renderNfd', () => {
  it('every line is a comment or <namespace>/<name>[=<value>] with a valid Kubernetes label name and value', async () => {
    const label = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
    for (const name of ['intel', 'virtio', 'amd', 'none']) {
      const text = renderNfd(await exported(name))
      assert.ok(Buffer.byteLength(text) < 64 * 1024, 'NFD ignores a feature file over 64 kB')
      for (const line of text.trimEnd().split('\n')) {
        if (line.startsWith('#')) continue
        const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/([^=]+)(?:=(.*))?$/.exec(line)
        assert.ok(m, `${name}: ${line}`)
        assert.ok(m[3]!.length <= 63 && label.test(m[3]!), `${name}: name of ${line}`)
        if (m[4] !== undefined) assert.ok(m[4].length <= 63 && label.test(m[4]), `${name}: value of ${line}`)
      }
    }
  })

  it('labels what each topology offers', async () => {
    const intel = nfdLabels(renderNfd(await exported('intel')))
    assert.equal(intel.get('enabled'), 'true')
    assert.equal(intel.get('unit.intel-vtd'), 'true')
    // The intel topology: x-scalable-mode=on, x-pasid-mode=on, intremap=on.
    assert.equal(intel.get('scalable-mode'), 'true')
    assert.equal(intel.get('pasid'), 'true')
    assert.equal(intel.get('interrupt-remapping-in-use'), 'true')
    const virtio = nfdLabels(renderNfd(await exported('virtio')))
    assert.equal(virtio.get('unit.virtio-iommu'), 'true')
    assert.equal(virtio.get('interrupt-remapping'), 'false')
    assert.equal(virtio.has('scalable-mode'), false, 'scalable mode is VT-d only')
    const none = nfdLabels(renderNfd(await exported('none')))
    assert.equal(none.get('enabled'), 'false')
    assert.equal(none.has('mode'), false)
    assert.equal(none.get('vfio-viable-groups'), '0')
  })
})
