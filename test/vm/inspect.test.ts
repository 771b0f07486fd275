import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {ACS_NAMES} from '../../src/model/topology.js'
import {assertMatchesSchema} from '../helpers/schema.js'
import {KERNEL_GROUPS_SH, parseKernelGroups, vmIt} from './guest.js'
import {explain, runInGuest} from './harness.js'
import {TopologyName} from './topologies.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-inspect-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

/** Runs the inspect commands on the live guest, next to the kernel's and lspci's own views. */
async function inspect(topology: TopologyName) {
  const dir = `/run/share/${topology}`
  const script = `set -x
mkdir -p ${dir}
${KERNEL_GROUPS_SH} > ${dir}/kernel-groups.txt
for d in /sys/bus/pci/devices/*; do echo "$(basename $d) $(basename "$(readlink $d/driver)" 2>/dev/null)"; done > ${dir}/kernel-drivers.txt
lspci -vvv -nn -D > ${dir}/lspci.txt
node bin/run.js status --json > ${dir}/status.json; echo $? > ${dir}/status.exit
node bin/run.js groups --json > ${dir}/groups.json
node bin/run.js devices --json > ${dir}/devices.json
node bin/run.js units --json > ${dir}/units.json
setpriv --reuid=nobody --regid=nogroup --clear-groups node bin/run.js devices --json > ${dir}/devices-nobody.json
true`
  const r = await runInGuest(topology, {command: script, shareDir: share})
  assert.equal(r.status, 0, explain(r))
  const local = path.join(share, topology)
  const read = (f: string) => fs.readFileSync(path.join(local, f), 'utf8')
  const out = {
    status: JSON.parse(read('status.json')),
    statusExit: Number(read('status.exit')),
    groups: JSON.parse(read('groups.json')),
    devices: JSON.parse(read('devices.json')),
    units: JSON.parse(read('units.json')),
    devicesNobody: JSON.parse(read('devices-nobody.json')),
    kernelGroups: parseKernelGroups(read('kernel-groups.txt')),
    kernelDrivers: new Map(
      read('kernel-drivers.txt')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    ),
    lspci: parseLspci(read('lspci.txt')),
  }
  for (const [schema, data] of [
    ['status', out.status],
    ['groups', out.groups],
    ['devices', out.devices],
    ['units', out.units],
    ['devices', out.devicesNobody],
  ] as const) {
    assertMatchesSchema(schema, data)
  }
  return out
}

/** lspci -vvv -nn -D, per device: its text block. */
function parseLspci(text: string): Map<string, string> {
  const blocks = new Map<string, string>()
  for (const block of text.split(/\n(?=[0-9a-f]{4}:)/)) blocks.set(block.slice(0, 12), block)
  return blocks
}

/** The capability names lspci prints (ls-ecaps.c, ls-caps.c) for each field the tool decodes. */
const LSPCI_NAMES = {
  acs: 'Access Control Services',
  ats: 'Address Translation Service (ATS)',
  pri: 'Page Request Interface (PRI)',
  pasid: 'Process Address Space ID (PASID)',
  ari: 'Alternative Routing-ID Interpretation (ARI)',
  sriov: 'Single Root I/O Virtualization (SR-IOV)',
} as const

type Inspected = Awaited<ReturnType<typeof inspect>>

function assertDevicesAgree(o: Inspected): void {
  assert.deepEqual(
    o.devices.map((d: {bdf: string}) => d.bdf),
    [...o.lspci.keys()],
    'the same devices as lspci',
  )
  for (const d of o.devices) {
    const block = o.lspci.get(d.bdf)!
    assert.equal(d.driver ?? '', o.kernelDrivers.get(d.bdf) ?? '', `${d.bdf} driver`)
    if (d.driver) assert.match(block, new RegExp(`Kernel driver in use: ${d.driver}\\n`), d.bdf)
    for (const [field, name] of Object.entries(LSPCI_NAMES)) {
      const present =
        block.includes(`Capabilities: [`) &&
        new RegExp(`Capabilities: \\[[0-9a-f]+ v?\\d*\\] ?${escape(name)}`).test(block)
      assert.equal(
        d.capabilities[field] !== null,
        present,
        `${d.bdf} ${field}: lspci ${present ? 'shows' : 'lacks'} it`,
      )
    }
    const acs = d.capabilities.acs
    if (acs) {
      const ctl = /ACSCtl:\s+(.*)/.exec(block)![1]!
      for (const [bit, word] of Object.entries(ACS_NAMES)) {
        assert.ok(ctl.includes(`${word}${acs.control[bit] ? '+' : '-'}`), `${d.bdf} ACSCtl ${word}`)
      }
    }
    if (d.capabilities.sriov) {
      const m = /Total VFs: (\d+), Number of VFs: (\d+)/.exec(block)!
      assert.deepEqual(
        [d.capabilities.sriov.totalVfs, d.capabilities.sriov.numVfs],
        [Number(m[1]), Number(m[2])],
        d.bdf,
      )
    }
  }
}

function escape(s: string): string {
  return s.replace(/[()[\]]/g, '\\$&')
}

describe('VM: inspect commands on real kernels', () => {
  vmIt("intel: groups are the kernel's, devices agree with lspci -vvv, status passes", async () => {
    const o = await inspect('intel')
    assert.deepEqual(
      o.groups.map((g: {id: number; type: string; devices: {bdf: string}[]}) => ({
        id: g.id,
        type: g.type,
        devices: g.devices.map((d) => d.bdf),
      })),
      o.kernelGroups,
    )
    assertDevicesAgree(o)
    assert.equal(o.statusExit, 0, JSON.stringify(o.status.checks))
    const result = (id: string) => o.status.checks.find((c: {id: string}) => c.id === id).result
    assert.equal(result('irq.remapping'), 'pass')
    assert.equal(result('memlock'), 'pass', 'root holds CAP_IPC_LOCK')
    assert.equal(o.units.find((u: {name: string}) => u.name === 'dmar0').vtd.ecapFields.ir, true)
    for (const d of o.devicesNobody) assert.equal(d.config.complete, false, `${d.bdf} as nobody`)
    assert.ok(
      o.devices.some((d: {capabilities: {ats: unknown}}) => d.capabilities.ats),
      'the virtio-rng has ATS',
    )
  })

  vmIt('virtio: interrupt remapping fails, status exits 1', async () => {
    const o = await inspect('virtio')
    assertDevicesAgree(o)
    assert.equal(o.statusExit, 1)
    assert.equal(o.status.checks.find((c: {id: string}) => c.id === 'irq.remapping').result, 'fail')
  })

  vmIt('none: status exits 3, no groups', async () => {
    const o = await inspect('none')
    assertDevicesAgree(o)
    assert.equal(o.statusExit, 3)
    assert.deepEqual(o.groups, [])
  })
})
