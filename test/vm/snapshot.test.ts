import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {diffTrees} from '../helpers/tree.js'
import {KERNEL_GROUPS_SH, parseKernelGroups, vmIt} from './guest.js'
import {REPO, explain, runInGuest} from './harness.js'
import {IGB_VFS, TopologyName} from './topologies.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-share-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

/**
 * In one boot: the kernel's own view (shell, no iommuctl), a root snapshot of the live guest,
 * a snapshot of that snapshot, and an unprivileged snapshot.
 */
const SCRIPT = (dir: string) => `set -ex
mkdir -p ${dir}
${KERNEL_GROUPS_SH} > ${dir}/kernel-groups.txt
ls /sys/class/iommu > ${dir}/kernel-units.txt
ls /sys/bus/pci/devices > ${dir}/kernel-pci.txt
stat -c '%n %F %a %U %G %t %T' /dev/iommu /dev/vfio/* > ${dir}/kernel-dev.txt 2>/dev/null || true
node bin/run.js snapshot --dir ${dir}/live --json > ${dir}/live.json
node bin/run.js snapshot --root ${dir}/live --dir ${dir}/copy --json > ${dir}/copy.json
setpriv --reuid=65534 --regid=65534 --clear-groups node bin/run.js snapshot -o /run/tmp/user.tar.gz --json > ${dir}/user.json
(cd /run/tmp && node ${REPO}/bin/run.js snapshot) > ${dir}/human.txt 2>&1
`

interface Booted {
  live: SnapshotJson
  copy: SnapshotJson
  user: SnapshotJson
  human: string
  kernelGroups: ReturnType<typeof parseKernelGroups>
  kernelUnits: string[]
  kernelPci: string[]
  kernelDev: string[]
  dir: string
}

interface SnapshotJson {
  units: {name: string; kind: string; devices: string[]}[]
  groups: {id: number; type: string; devices: string[]}[]
  pciDevices: string[]
  devNodes: {
    path: string
    type: string
    mode: string
    owner: string
    group: string
    major: number
    minor: number
  }[]
  unreadable: {path: string; reason: string}[]
  warnings: string[]
  privileged: boolean
}

async function boot(topology: TopologyName): Promise<Booted> {
  const r = await runInGuest(topology, {command: SCRIPT(`/run/share/${topology}`), shareDir: share})
  assert.equal(r.status, 0, explain(r))
  const dir = path.join(share, topology)
  const json = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as SnapshotJson
  const lines = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean)
  const booted = {
    live: json('live.json'),
    copy: json('copy.json'),
    user: json('user.json'),
    human: fs.readFileSync(path.join(dir, 'human.txt'), 'utf8'),
    kernelGroups: parseKernelGroups(fs.readFileSync(path.join(dir, 'kernel-groups.txt'), 'utf8')),
    kernelUnits: lines('kernel-units.txt'),
    kernelPci: lines('kernel-pci.txt'),
    kernelDev: lines('kernel-dev.txt'),
    dir,
  }
  for (const out of [booted.live, booted.copy, booted.user]) assertMatchesSchema('snapshot', out)
  return booted
}

/** What every topology must show: the snapshot agrees with the kernel and reads back the same. */
function assertAgreesWithKernel(b: Booted): void {
  assert.deepEqual(
    b.live.groups.map((g) => ({id: g.id, type: g.type, devices: g.devices})),
    b.kernelGroups,
  )
  assert.deepEqual(
    b.live.units.map((u) => u.name),
    b.kernelUnits,
  )
  assert.deepEqual(b.live.pciDevices, b.kernelPci)
  for (const line of b.kernelDev) {
    const [p, , , , mode, owner, group, major, minor] = line.split(/\s+/)
    const node = b.live.devNodes.find((n) => n.path === p)
    assert.ok(node, `${p} missing from devNodes`)
    assert.equal(node.type, 'char')
    assert.equal(node.mode, mode!.padStart(4, '0'))
    assert.equal(node.owner, owner)
    assert.equal(node.group, group)
    assert.equal(node.major, parseInt(major!, 16))
    assert.equal(node.minor, parseInt(minor!, 16))
  }
  for (const key of ['units', 'groups', 'pciDevices', 'devNodes'] as const)
    assert.deepEqual(b.copy[key], b.live[key], key)
  assert.deepEqual(diffTrees(path.join(b.dir, 'live'), path.join(b.dir, 'copy')), [])
  assert.equal(b.live.privileged, true)
  assert.equal(b.user.privileged, false)
  assert.deepEqual(b.user.groups, b.live.groups, 'groups are readable without root')
}

/** As non-root, config space past 64 bytes is cut off by the kernel: the snapshot says so per device. */
function assertUnprivilegedReportsConfig(b: Booted): void {
  const cut = b.user.unreadable.filter((u) => u.path.endsWith('/config'))
  assert.ok(cut.length > 0, 'no config space reported unreadable as nobody')
  for (const u of cut)
    assert.match(u.reason, /^only 64 of (256|4096) bytes of config space readable without root/)
  assert.deepEqual(
    b.live.unreadable.filter((u) => u.path.endsWith('/config')),
    [],
    'root reads all config space',
  )
}

const pciIds = (dir: string, bdf: string) => {
  const real = fs.readlinkSync(path.join(dir, 'live/sys/bus/pci/devices', bdf))
  const base = path.resolve(path.join(dir, 'live/sys/bus/pci/devices'), real)
  const read = (f: string) => fs.readFileSync(path.join(base, f), 'utf8').trim()
  return {vendor: read('vendor'), device: read('device'), class: read('class'), base}
}

describe('VM: snapshot on real kernels', () => {
  vmIt('intel: VT-d unit, one group per device except 00:1f.* and the PCI bridge, SR-IOV VFs', async () => {
    const b = await boot('intel')
    assertAgreesWithKernel(b)
    assertUnprivilegedReportsConfig(b)
    assert.deepEqual(
      b.live.units.map((u) => [u.name, u.kind]),
      [
        ['dmar0', 'intel-vtd'],
        ['iommufd_selftest_iommu.0', 'unknown'],
      ],
    )
    const dmar = b.live.units[0]!
    assert.deepEqual(
      [...dmar.devices].sort(),
      b.live.groups.flatMap((g) => g.devices).sort(),
      'every grouped device is behind dmar0',
    )

    const groupOf = (bdf: string) => b.live.groups.find((g) => g.devices.includes(bdf))
    const lpc = b.live.pciDevices.filter((d) => d.startsWith('0000:00:1f.'))
    assert.ok(lpc.length >= 2)
    assert.deepEqual(
      groupOf(lpc[0]!)?.devices.filter((d) => d.startsWith('0000:00:1f.')),
      lpc,
      'ICH9 functions share a group',
    )

    const e1000 = b.live.pciDevices.filter((d) => pciIds(b.dir, d).device === '0x100e')
    assert.equal(e1000.length, 2, 'two e1000 behind the bridge')
    assert.equal(groupOf(e1000[0]!), groupOf(e1000[1]!), 'the bridge group holds both devices')

    const vfs = b.live.pciDevices.filter((d) => fs.existsSync(path.join(pciIds(b.dir, d).base, 'physfn')))
    assert.equal(vfs.length, IGB_VFS, 'igb VFs enabled and captured with their physfn link')
    const pf = path.basename(fs.readlinkSync(path.join(pciIds(b.dir, vfs[0]!).base, 'physfn')))
    assert.equal(
      fs.readFileSync(path.join(pciIds(b.dir, pf).base, 'sriov_numvfs'), 'utf8').trim(),
      String(IGB_VFS),
    )
    for (const vf of vfs) assert.notEqual(groupOf(vf), groupOf(pf), 'each VF has a group of its own')
    assert.equal(
      fs.statSync(path.join(pciIds(b.dir, e1000[0]!).base, 'config')).size,
      256,
      'conventional PCI: 256 bytes',
    )
    assert.equal(fs.statSync(path.join(pciIds(b.dir, pf).base, 'config')).size, 4096, 'PCIe: 4096 bytes')
    assert.ok(fs.existsSync(path.join(b.dir, 'live/proc/config.gz')))
    assert.match(b.human, /units {4}2: dmar0 \(intel-vtd/)
  })

  vmIt('virtio: a virtio-iommu unit and DMA-FQ groups', async () => {
    const b = await boot('virtio')
    assertAgreesWithKernel(b)
    assertUnprivilegedReportsConfig(b)
    const viommu = b.live.units.find((u) => u.kind === 'virtio-iommu')
    assert.ok(viommu, JSON.stringify(b.live.units))
    assert.ok(b.live.groups.length > 0)
    for (const g of b.live.groups) assert.equal(g.type, 'DMA-FQ')
  })

  vmIt('amd: an AMD-Vi unit (itself a PCI function, in no group) and identity groups', async () => {
    const b = await boot('amd')
    assertAgreesWithKernel(b)
    const ivhd = b.live.units.find((u) => u.kind === 'amd-vi')
    assert.ok(ivhd, JSON.stringify(b.live.units))
    assert.equal(ivhd.name, 'ivhd0')
    const grouped = b.live.groups.flatMap((g) => g.devices)
    const iommuFn = b.live.pciDevices.find((d) => pciIds(b.dir, d).class.startsWith('0x0806'))
    assert.ok(iommuFn, 'the AMD IOMMU PCI function (class 0806, IOMMU) is listed')
    assert.equal(pciIds(b.dir, iommuFn).vendor, '0x1022')
    assert.ok(!grouped.includes(iommuFn), 'the IOMMU itself is in no group')
    for (const g of b.live.groups) assert.equal(g.type, 'identity', 'iommu=pt gives identity default domains')
  })

  vmIt('none: no groups, and the snapshot says so plainly', async () => {
    const b = await boot('none')
    assertAgreesWithKernel(b)
    assert.deepEqual(b.live.groups, [])
    assert.ok(b.live.pciDevices.length > 0)
    assert.match(b.live.warnings.join('\n'), /No IOMMU groups: this host has no IOMMU in use/)
    assert.match(b.human, /No IOMMU groups: this host has no IOMMU in use/)
    assert.deepEqual(
      b.live.units.map((u) => u.kind),
      b.live.units.map(() => 'unknown'),
      'only the iommufd selftest unit, of no known kind',
    )
  })
})
