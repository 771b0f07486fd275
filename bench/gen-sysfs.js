#!/usr/bin/env node
// Writes the sysfs tree of a large host (N PCI functions) into a directory, for bench/inspect.js.
// Every device is a copy of a real one from test/fixtures/intel.tar.gz (a snapshot of a q35 VM on
// a 7.2 kernel): its attribute files and config space bytes, with only what the topology dictates
// patched in (bus numbers of bridges, SR-IOV VF counts, the PCIe port type of switch ports, the
// multifunction bit of dual-function NICs). Links (driver, iommu, iommu_group, physfn, virtfnN,
// /sys/bus/pci/devices, drivers, iommu_groups/N/devices, the units' devices/) follow the layout of
// the real tree. Deterministic: the same N gives the same tree.
//
// Usage: node bench/gen-sysfs.js N DIR [--verify]
//   --verify  also runs `lspci -D -A linux-sysfs -O sysfs.path=DIR/sys/bus/pci` and checks that it
//             lists exactly the generated BDFs (exit 1 when it does not)
import {Buffer} from 'node:buffer'
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const FIXTURE = path.join(repo, 'test/fixtures/intel.tar.gz')

/** The devices of the intel fixture whose attributes and config space the generated ones copy. */
const TEMPLATES = {
  hostBridge: '0000:00:00.0', // 8086:29c0 q35 DRAM controller, 256 bytes
  e1000e: '0000:00:03.0', // 8086:10d3 82574L, an RC-integrated endpoint in the VM
  rootPort: '0000:00:04.0', // 1b36:000c QEMU PCIe root port, with ACS enabled
  pciBridge: '0000:00:07.0', // 1b36:0001 conventional PCI-PCI bridge
  lpc: '0000:00:1f.0', // ICH9 LPC, multifunction with 1f.2 and 1f.3
  sata: '0000:00:1f.2',
  smbus: '0000:00:1f.3',
  igbPf: '0000:01:00.0', // 8086:10c9 82576 PF with SR-IOV
  igbVf: '0000:01:10.0', // 8086:10ca 82576 VF
  nvme: '0000:02:00.0', // 1b36:0010 QEMU NVMe
  e1000: '0000:04:01.0', // 8086:100e 82540EM, conventional PCI
}

/** Where the tree's parts live, relative to DIR/sys. */
const GROUPS = 'kernel/iommu_groups'
const DRIVERS = 'bus/pci/drivers'
const UNITS = 'devices/virtual/iommu'

/** Fixture paths that are the VM's PCI/IOMMU topology: regenerated, not copied. */
const NOT_COPIED = [
  /^sys\/bus\/pci\/devices\/./,
  /^sys\/bus\/pci\/drivers\/[^/]+\/[0-9a-f]{4}:/,
  /^sys\/devices\/pci[0-9a-f]{4}:/,
  /^sys\/kernel\/iommu_groups\/./,
  /^sys\/class\/iommu\/./,
  /^sys\/devices\/virtual\/iommu\/./,
  /^sys\/devices\/platform\/iommufd_selftest/,
]

const hex = (n, w) => n.toString(16).padStart(w, '0')

/** mulberry32: a small seeded PRNG, so that the same N always gives the same tree. */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Unpacks the fixture into a fresh temporary directory; the caller removes it. */
export function extractFixture(tarball = FIXTURE) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-fixture-'))
  const r = spawnSync('tar', ['xzf', tarball, '-C', dir], {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`tar xzf ${tarball} failed: ${r.stderr || r.error}`)
  return dir
}

function loadTemplates(fixtureDir) {
  const sys = path.join(fixtureDir, 'sys')
  const out = {}
  for (const [name, bdf] of Object.entries(TEMPLATES)) {
    const link = path.join(sys, 'bus/pci/devices', bdf)
    const dir = path.resolve(path.dirname(link), fs.readlinkSync(link))
    const files = new Map()
    for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
      if (e.isFile()) files.set(e.name, fs.readFileSync(path.join(dir, e.name)))
    }
    const driverLink = path.join(dir, 'driver')
    out[name] = {
      bdf,
      files,
      driver: fs.existsSync(driverLink) ? path.basename(fs.readlinkSync(driverLink)) : null,
    }
  }
  const unitDir = path.join(sys, UNITS, 'dmar0')
  out.unit = new Map(
    ['uevent', ...fs.readdirSync(path.join(unitDir, 'intel-iommu')).map((f) => `intel-iommu/${f}`)].map(
      (f) => [f, fs.readFileSync(path.join(unitDir, f))],
    ),
  )
  const group = path.join(sys, GROUPS, '0')
  out.group = {
    type: fs.readFileSync(path.join(group, 'type')),
    reservedRegions: fs.readFileSync(path.join(group, 'reserved_regions')).toString(),
  }
  return out
}

// --- config space patching (offsets from include/uapi/linux/pci_regs.h) ---

/** Offset of a capability in the standard list, or -1. */
function findCap(cfg, id) {
  if (!(cfg.readUInt16LE(0x06) & 0x10)) return -1
  let pos = cfg[0x34] & 0xfc
  for (let n = 0; pos >= 0x40 && n < 48; n++) {
    if (cfg[pos] === id) return pos
    pos = cfg[pos + 1] & 0xfc
  }
  return -1
}

/** Offset of an extended capability, or -1. */
function findExtCap(cfg, id) {
  if (cfg.length < 4096) return -1
  let pos = 0x100
  for (let n = 0; pos >= 0x100 && n < 960; n++) {
    const header = cfg.readUInt32LE(pos)
    if ((header & 0xffff) === id) return pos
    pos = (header >>> 20) & 0xffc
  }
  return -1
}

/** PCI Express Capabilities register: device/port type in bits 7:4. */
function setExpressType(cfg, type) {
  const exp = findCap(cfg, 0x10)
  if (exp < 0) throw new Error('template has no PCIe capability')
  cfg.writeUInt16LE((cfg.readUInt16LE(exp + 2) & ~0xf0) | (type << 4), exp + 2)
}

function setIds(cfg, vendor, device) {
  cfg.writeUInt16LE(vendor, 0x00)
  cfg.writeUInt16LE(device, 0x02)
}

/** Type 1 header: primary, secondary and subordinate bus numbers. */
function setBuses(cfg, primary, secondary, subordinate) {
  cfg[0x18] = primary
  cfg[0x19] = secondary
  cfg[0x1a] = subordinate
}

/** SR-IOV capability: InitialVFs, TotalVFs, NumVFs, First VF Offset, VF Stride. */
function setSriov(cfg, total, num, offset, stride) {
  const cap = findExtCap(cfg, 0x10)
  if (cap < 0) throw new Error('template has no SR-IOV capability')
  cfg.writeUInt16LE(total, cap + 0x0c)
  cfg.writeUInt16LE(total, cap + 0x0e)
  cfg.writeUInt16LE(num, cap + 0x10)
  cfg.writeUInt16LE(offset, cap + 0x14)
  cfg.writeUInt16LE(stride, cap + 0x16)
}

const PCI_EXP_TYPE = {endpoint: 0, upstream: 5, downstream: 6}
/** Texas Instruments XIO3130, the switch QEMU emulates (x3130-upstream, xio3130-downstream). */
const XIO3130 = {vendor: 0x104c, upstream: 0x8232, downstream: 0x8233}
const VF_OFFSET = 128
const VF_STRIDE = 2
/** With offset 128 and stride 2 the VFs fill devfn 0x80-0xfe of the PF's bus. */
const MAX_VFS = 64

// --- the model ---

/**
 * Builds the host: PCI domains of two root buses each (pciDDDD:00 and pciDDDD:80), each root bus
 * with its own VT-d unit, a host bridge, root ports and, on the first root bus of a domain, an
 * ICH9-like multifunction chipset sharing one group. Behind each root port one of: an NVMe drive,
 * a NIC, a dual-function NIC (one group), an SR-IOV PF with 16-64 VFs (a group each), a PCIe switch
 * (upstream port, downstream ports with ACS, a device below each) or a conventional PCI bridge
 * with e1000s behind it (bridge and all its devices one group).
 */
function buildModel(n, tpl) {
  const rand = prng(0x10face)
  const pick = (xs) => xs[Math.floor(rand() * xs.length)]
  const devices = []
  const groups = []
  const rootBuses = []
  const units = []
  const deferredVfs = []
  let remaining = n
  let vfioMinor = 0
  const rootPortsPerRootBus = Math.min(28, Math.max(6, Math.round(n / 70)))

  const newGroup = (regions = tpl.group.reservedRegions) => {
    const g = {id: -1, members: [], regions}
    groups.push(g)
    return g
  }

  /** A device; parent is its parent device (null on a root bus). */
  const add = (rb, parent, bus, dev, fn, kind, group, extra = {}) => {
    if (remaining <= 0) throw new Error('internal: device budget exceeded')
    remaining--
    const t = tpl[kind]
    const bdf = `${rb.domainHex}:${hex(bus, 2)}:${hex(dev, 2)}.${fn}`
    const d = {
      bdf,
      rel: `${parent ? parent.rel : `devices/${rb.hostDir}`}/${bdf}`,
      kind,
      files: new Map(t.files),
      config: Buffer.from(t.files.get('config')),
      driver: t.driver,
      group,
      unit: rb.unit,
      links: [],
      vfio: null,
      ...extra,
    }
    d.files.set('numa_node', Buffer.from(`${rb.numaNode}\n`))
    d.files.set('local_cpulist', Buffer.from(rb.numaNode === 0 ? '0-31,64-95\n' : '32-63,96-127\n'))
    if (group) group.members.push(d)
    devices.push(d)
    return d
  }

  const setIdFiles = (d, vendor, device) => {
    setIds(d.config, vendor, device)
    d.files.set('vendor', Buffer.from(`0x${hex(vendor, 4)}\n`))
    d.files.set('device', Buffer.from(`0x${hex(device, 4)}\n`))
    const old = d.files.get('modalias').toString()
    d.files.set(
      'modalias',
      Buffer.from(
        old.replace(
          /v[0-9A-F]{8}d[0-9A-F]{8}/,
          `v${hex(vendor, 8).toUpperCase()}d${hex(device, 8).toUpperCase()}`,
        ),
      ),
    )
  }

  /** An SR-IOV PF at bus:00.0 with numVfs VFs at devfn 0x80, 0x82, ... on the same bus. */
  const addPf = (rb, parent, bus, numVfs) => {
    const pf = add(rb, parent, bus, 0, 0, 'igbPf', newGroup())
    setSriov(pf.config, MAX_VFS, numVfs, VF_OFFSET, VF_STRIDE)
    pf.files.set('sriov_totalvfs', Buffer.from(`${MAX_VFS}\n`))
    pf.files.set('sriov_numvfs', Buffer.from(`${numVfs}\n`))
    for (let k = 0; k < numVfs; k++) {
      const devfn = VF_OFFSET + k * VF_STRIDE
      const vfio = k % 4 === 3
      // The kernel creates VF groups when SR-IOV is enabled, after the boot-time scan: numbered last.
      const vf = add(rb, parent, bus, devfn >> 3, devfn & 7, 'igbVf', null)
      deferredVfs.push(vf)
      vf.links.push(['physfn', `../${pf.bdf}`])
      pf.links.push([`virtfn${k}`, `../${vf.bdf}`])
      if (vfio) {
        vf.driver = 'vfio-pci'
        vf.files.set('driver_override', Buffer.from('vfio-pci\n'))
        vf.vfio = `vfio${vfioMinor++}`
      }
    }
    return pf
  }

  /** What sits on a bus behind a port, within budget (>= 1) and bus budget (>= 1). */
  const addEndpointUnit = (rb, port, bus, budget, busesLeft) => {
    let kind = pick([
      'nvme',
      'nvme',
      'nvme',
      'e1000e',
      'e1000e',
      'dual',
      'dual',
      'pf',
      'pf',
      'pf',
      'pf',
      'pf',
    ])
    kind = pick([kind, kind, kind, kind, 'switch', 'switch', 'bridge'])
    if (kind === 'switch' && (budget < 3 || busesLeft < 3)) kind = 'nvme'
    if (kind === 'bridge' && (budget < 2 || busesLeft < 2)) kind = 'nvme'
    if ((kind === 'dual' || kind === 'pf') && budget < 2) kind = 'nvme'
    let buses = 1
    if (kind === 'nvme') add(rb, port, bus, 0, 0, 'nvme', newGroup())
    else if (kind === 'e1000e' || kind === 'dual') {
      const fns = kind === 'dual' ? 2 : 1
      const g = newGroup()
      for (let fn = 0; fn < fns; fn++) {
        const d = add(rb, port, bus, 0, fn, 'e1000e', g)
        // In the VM it is an RC-integrated endpoint; behind a port it is a plain endpoint.
        setExpressType(d.config, PCI_EXP_TYPE.endpoint)
        if (fns > 1) d.config[0x0e] |= 0x80
      }
    } else if (kind === 'pf') addPf(rb, port, bus, Math.min(pick([16, 32, 32, 64]), budget - 1))
    else if (kind === 'bridge') {
      const g = newGroup()
      const bridge = add(rb, port, bus, 0, 0, 'pciBridge', g)
      const count = Math.min(2 + Math.floor(rand() * 5), budget - 1)
      for (let i = 0; i < count; i++) add(rb, bridge, bus + 1, 1 + i, 0, 'e1000', g)
      setBuses(bridge.config, bus, bus + 1, bus + 1)
      buses = 2
    } else {
      // PCIe switch: upstream port on this bus, downstream ports on an internal bus, a device below each.
      const up = add(rb, port, bus, 0, 0, 'rootPort', newGroup())
      setExpressType(up.config, PCI_EXP_TYPE.upstream)
      setIdFiles(up, XIO3130.vendor, XIO3130.upstream)
      const internal = bus + 1
      buses = 2
      const ports = Math.min(pick([4, 6, 8]), busesLeft - 2)
      for (let k = 0; k < ports && remaining >= 2; k++) {
        const down = add(rb, up, internal, k, 0, 'rootPort', newGroup())
        setExpressType(down.config, PCI_EXP_TYPE.downstream)
        setIdFiles(down, XIO3130.vendor, XIO3130.downstream)
        const below = internal + 1 + k
        if (rand() < 0.3 && remaining >= 2) addPf(rb, down, below, Math.min(8, remaining - 1))
        else add(rb, down, below, 0, 0, 'nvme', newGroup())
        setBuses(down.config, internal, below, below)
        buses++
      }
      setBuses(up.config, bus, internal, bus + buses - 1)
    }
    return buses
  }

  for (let r = 0; remaining > 0; r++) {
    const domain = r >> 1
    const base = (r & 1) * 0x80
    const rb = {
      domain,
      domainHex: hex(domain, 4),
      bus: base,
      hostDir: `pci${hex(domain, 4)}:${hex(base, 2)}`,
      unit: `dmar${r}`,
      numaNode: r & 1,
    }
    rootBuses.push(rb)
    units.push({name: rb.unit, address: 0xfed90000 + r * 0x10000, devices: []})
    let nextBus = base + 1
    const lastBus = base + 0x7f
    add(rb, null, base, 0, 0, 'hostBridge', newGroup())
    if ((r & 1) === 0 && remaining >= 3) {
      const g = newGroup(
        `0x00000000000e8000 0x00000000000e8fff direct-relaxable\n${tpl.group.reservedRegions}`.replace(
          /\n+$/,
          '\n',
        ),
      )
      for (const [fn, kind] of [
        [0, 'lpc'],
        [2, 'sata'],
        [3, 'smbus'],
      ])
        add(rb, null, base, 0x1f, fn, kind, g)
    }
    for (let p = 0; p < rootPortsPerRootBus && remaining > 0 && nextBus <= lastBus; p++) {
      if (remaining === 1) {
        // One device left: an integrated NIC on the root bus, as in the VM.
        add(rb, null, base, 0x19, 0, 'e1000e', newGroup())
        break
      }
      const port = add(rb, null, base, 1 + p, 0, 'rootPort', newGroup())
      const bus = nextBus
      nextBus += addEndpointUnit(rb, port, bus, remaining, lastBus - bus + 1)
      setBuses(port.config, base, bus, nextBus - 1)
    }
  }
  // Group numbers in probe order, VFs last (created when SR-IOV is enabled).
  let id = 0
  for (const g of groups) if (g.members.length) g.id = id++
  for (const vf of deferredVfs) {
    vf.group = {id: id++, members: [vf], regions: tpl.group.reservedRegions}
    groups.push(vf.group)
  }
  const unitByName = new Map(units.map((u) => [u.name, u]))
  for (const d of devices) unitByName.get(d.unit).devices.push(d)
  return {devices, groups: groups.filter((g) => g.members.length), rootBuses, units}
}

// --- writing ---

/** Copies what the fixture has outside the PCI/IOMMU topology: /proc, /dev, modules, firmware. */
function copyBase(fixtureDir, out) {
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(fixtureDir, rel), {withFileTypes: true})) {
      const r = rel ? `${rel}/${e.name}` : e.name
      if (NOT_COPIED.some((re) => re.test(r))) continue
      const src = path.join(fixtureDir, r)
      const dst = path.join(out, r)
      if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst)
      else if (e.isDirectory()) {
        fs.mkdirSync(dst, {recursive: true})
        walk(r)
      } else if (e.isFile()) fs.copyFileSync(src, dst)
    }
  }
  walk('')
}

/** The kernel's resource file: one "start end flags" line per BAR, ROM, IOV BAR and bridge window. */
function resourceFile(bridge) {
  return '0x0000000000000000 0x0000000000000000 0x0000000000000000\n'.repeat(bridge ? 17 : 13)
}

function writeTree(model, tpl, fixtureDir, out) {
  fs.mkdirSync(out, {recursive: true})
  copyBase(fixtureDir, out)
  const sys = path.join(out, 'sys')
  for (const d of ['bus/pci/devices', DRIVERS, GROUPS, 'class/iommu', UNITS])
    fs.mkdirSync(path.join(sys, d), {recursive: true})
  for (const rb of model.rootBuses) fs.mkdirSync(path.join(sys, 'devices', rb.hostDir))
  const drivers = new Set()
  for (const d of model.devices) {
    const dir = path.join(sys, d.rel)
    fs.mkdirSync(dir)
    for (const [name, data] of d.files) {
      if (name !== 'config') fs.writeFileSync(path.join(dir, name), data)
    }
    fs.writeFileSync(path.join(dir, 'config'), d.config)
    fs.writeFileSync(path.join(dir, 'resource'), resourceFile(d.config[0x0e] & 0x7f))
    const up = '../'.repeat(d.rel.split('/').length)
    fs.symlinkSync(`${up}bus/pci`, path.join(dir, 'subsystem'))
    fs.symlinkSync(`${up}${GROUPS}/${d.group.id}`, path.join(dir, 'iommu_group'))
    fs.symlinkSync(`${up.slice(3)}virtual/iommu/${d.unit}`, path.join(dir, 'iommu'))
    if (d.driver) {
      fs.symlinkSync(`${up}${DRIVERS}/${d.driver}`, path.join(dir, 'driver'))
      if (!drivers.has(d.driver)) {
        fs.mkdirSync(path.join(sys, DRIVERS, d.driver), {recursive: true})
        drivers.add(d.driver)
      }
      fs.symlinkSync(`../../../../${d.rel}`, path.join(sys, DRIVERS, d.driver, d.bdf))
    }
    for (const [name, target] of d.links) fs.symlinkSync(target, path.join(dir, name))
    if (d.vfio) {
      fs.mkdirSync(path.join(dir, 'vfio-dev', d.vfio), {recursive: true})
      fs.writeFileSync(path.join(dir, 'vfio-dev', d.vfio, 'dev'), `511:${d.vfio.slice(4)}\n`)
    }
    fs.symlinkSync(`../../../${d.rel}`, path.join(sys, 'bus/pci/devices', d.bdf))
  }
  for (const g of model.groups) {
    const dir = path.join(sys, GROUPS, String(g.id))
    fs.mkdirSync(path.join(dir, 'devices'), {recursive: true})
    fs.writeFileSync(path.join(dir, 'type'), tpl.group.type)
    fs.writeFileSync(path.join(dir, 'reserved_regions'), g.regions)
    for (const d of g.members) fs.symlinkSync(`../../../../${d.rel}`, path.join(dir, 'devices', d.bdf))
  }
  for (const u of model.units) {
    const dir = path.join(sys, UNITS, u.name)
    fs.mkdirSync(path.join(dir, 'intel-iommu'), {recursive: true})
    fs.mkdirSync(path.join(dir, 'devices'))
    for (const [f, data] of tpl.unit) fs.writeFileSync(path.join(dir, f), data)
    fs.writeFileSync(path.join(dir, 'intel-iommu/address'), `${u.address.toString(16)}\n`)
    const used = new Set(u.devices.map((d) => d.group.id)).size
    fs.writeFileSync(path.join(dir, 'intel-iommu/domains_used'), `${used}\n`)
    fs.symlinkSync('../../../../class/iommu', path.join(dir, 'subsystem'))
    for (const d of u.devices) {
      fs.symlinkSync(`../../../../${d.rel.slice('devices/'.length)}`, path.join(dir, 'devices', d.bdf))
    }
    fs.symlinkSync(`../../${UNITS}/${u.name}`, path.join(sys, 'class/iommu', u.name))
  }
}

/**
 * Generates the tree of a host with n PCI functions under out (which must not exist or be empty).
 * fixtureDir: an unpacked intel fixture (extractFixture()), unpacked here and removed when absent.
 */
export function generate(n, out, {fixtureDir} = {}) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`device count must be a positive integer, not ${n}`)
  const own = fixtureDir === undefined
  const fx = own ? extractFixture() : fixtureDir
  try {
    const t0 = process.hrtime.bigint()
    const tpl = loadTemplates(fx)
    const model = buildModel(n, tpl)
    writeTree(model, tpl, fx, out)
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    const bdfs = model.devices.map((d) => d.bdf).sort()
    if (bdfs.length !== n || new Set(bdfs).size !== n) throw new Error('internal: wrong or duplicate BDFs')
    return {
      devices: bdfs.length,
      bdfs,
      groups: model.groups.length,
      sharedGroups: model.groups.filter((g) => g.members.length > 1).length,
      vfs: model.devices.filter((d) => d.kind === 'igbVf').length,
      domains: new Set(model.rootBuses.map((rb) => rb.domain)).size,
      rootBuses: model.rootBuses.length,
      units: model.units.length,
      ms,
    }
  } finally {
    if (own) fs.rmSync(fx, {recursive: true, force: true})
  }
}

/** The BDFs lspci lists from the tree (pciutils' sysfs backend). */
export function lspciBdfs(out) {
  const r = spawnSync(
    'lspci',
    ['-D', '-A', 'linux-sysfs', '-O', `sysfs.path=${path.join(out, 'sys/bus/pci')}`, '-O', 'hwdb.disable=1'],
    {encoding: 'utf8', maxBuffer: 256 << 20},
  )
  if (r.status !== 0) throw new Error(`lspci failed: ${r.stderr || r.error}`)
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[0])
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const verify = args.includes('--verify')
  const [count, out] = args.filter((a) => a !== '--verify')
  if (!count || !out) {
    console.error('usage: node bench/gen-sysfs.js N DIR [--verify]')
    process.exit(2)
  }
  if (fs.existsSync(out) && fs.readdirSync(out).length) {
    console.error(`${out} exists and is not empty`)
    process.exit(2)
  }
  const s = generate(Number(count), out)
  console.log(
    `${out}: ${s.devices} PCI functions (${s.vfs} VFs), ${s.groups} IOMMU groups (${s.sharedGroups} shared), ` +
      `${s.domains} domains, ${s.rootBuses} root buses, ${s.units} VT-d units, written in ${s.ms.toFixed(0)} ms`,
  )
  if (verify) {
    const listed = lspciBdfs(out)
    const same = listed.length === s.bdfs.length && listed.every((b, i) => b === s.bdfs[i])
    console.log(`lspci lists ${listed.length} devices: ${same ? 'exactly the generated ones' : 'MISMATCH'}`)
    if (!same) process.exit(1)
  }
}
