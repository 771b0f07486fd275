// `iommuctl audit`: what can reach memory without translation, in the spirit of fwupd's HSI
// attributes (org.fwupd.hsi.IOMMU, org.fwupd.hsi.PrebootDma, kernel DMA protection) and going
// further: per group and device, from what the kernel exposes. Every finding names the files it
// read. The kernel rules it follows are cited where they are applied.

import {parseAmdViRegisters} from '../decode/amdvi.js'
import {parseVtdRegisters} from '../decode/vtd.js'
import {Bdf} from '../records.js'
import {parseIommuCmdline} from '../sysfs/cmdline.js'
import {GROUPS_DIR, PCI_DEVICES_DIR, UNITS_DIR} from '../sysfs/inventory.js'
import {directGroups, firmwareForDirect} from './direct.js'
import {Context, Evidence, iommuPresent, isSet, readInterruptRemapping} from './status.js'
import {PciTopology} from './topology.js'

/** How much a finding exposes, lowest first. */
export type AuditLevel = 'info' | 'low' | 'medium' | 'high' | 'critical'
export const AUDIT_LEVELS: readonly AuditLevel[] = ['info', 'low', 'medium', 'high', 'critical']

export interface Finding {
  /** Stable id, e.g. domains.identity. */
  id: string
  level: AuditLevel
  title: string
  /** One line: what was found. */
  summary: string
  /** The PCI devices it concerns; empty when it is about the host as a whole. */
  devices: Bdf[]
  evidence: Evidence[]
  /** What to do about it. */
  fix: string
}

/** A check that found nothing to report, with what it read: the audit's coverage. */
export interface CleanCheck {
  id: string
  title: string
  summary: string
  evidence: Evidence[]
}

/** `iommuctl audit --json` */
export interface AuditRecord {
  root: string
  /** Whether an IOMMU is present and in use (exit status 3 when not). */
  iommu: boolean
  /** The --fail-on level. */
  failOn: AuditLevel
  /** A finding is at or above failOn (exit status 1). */
  failed: boolean
  /** The level of the worst finding; null when there is none. */
  highest: AuditLevel | null
  counts: Record<AuditLevel, number>
  /** Worst first. */
  findings: Finding[]
  clean: CleanCheck[]
  /** What could not be read or decided (files readable by root only, checks that do not apply). */
  notes: string[]
}

export const atLeast = (level: AuditLevel, threshold: AuditLevel) =>
  AUDIT_LEVELS.indexOf(level) >= AUDIT_LEVELS.indexOf(threshold)

/** The findings and clean checks as they are made. */
class Audit {
  readonly findings: Finding[] = []
  readonly clean: CleanCheck[] = []
  readonly notes: string[] = []
  readonly topology: PciTopology
  readonly bdfs: Bdf[]

  constructor(readonly ctx: Context) {
    this.topology = new PciTopology(ctx.root)
    this.bdfs = this.topology.bdfs()
  }

  found(f: Finding): void {
    this.findings.push(f)
  }

  ok(id: string, title: string, summary: string, evidence: Evidence[] = []): void {
    this.clean.push({id, title, summary, evidence})
  }

  /** The groups of these types, with their devices. */
  groupsOfType(...types: string[]) {
    return this.ctx.groups.filter((g) => g.type !== null && types.includes(g.type))
  }
}

export function readAudit(ctx: Context, failOn: AuditLevel): AuditRecord {
  const a = new Audit(ctx)
  const present = iommuPresent(ctx)
  if (present.result === 'fail') {
    a.found({
      id: 'iommu.absent',
      level: 'critical',
      title: 'No IOMMU is in use',
      summary: `${present.summary}: every device can DMA to all of memory`,
      devices: a.bdfs,
      evidence: present.evidence,
      fix: present.fix ?? '',
    })
    a.notes.push('no IOMMU in use: the checks of domains, groups, ATS and interrupt remapping do not apply')
  } else {
    passthroughCmdline(a)
    identityDomains(a)
    ungroupedDevices(a)
    lazyInvalidation(a)
    atsDevices(a)
    interruptRemapping(a)
    directRegions(a)
    sharedVirtualAddressing(a)
    vdpaDevices(a)
  }
  vfioNoIommu(a)
  thunderbolt(a)
  prebootProtection(a, present.result !== 'fail')

  const counts = Object.fromEntries(AUDIT_LEVELS.map((l) => [l, 0])) as Record<AuditLevel, number>
  for (const f of a.findings) counts[f.level]++
  const findings = [...a.findings].sort(
    (x, y) => AUDIT_LEVELS.indexOf(y.level) - AUDIT_LEVELS.indexOf(x.level),
  )
  return {
    root: ctx.root.source,
    iommu: present.result !== 'fail',
    failOn,
    failed: findings.some((f) => atLeast(f.level, failOn)),
    highest: findings[0]?.level ?? null,
    counts,
    findings,
    clean: a.clean,
    notes: a.notes,
  }
}

const CMDLINE = '/proc/cmdline'
const TYPES = `${GROUPS_DIR}/*/type`

function passthroughCmdline(a: Audit): void {
  const id = 'iommu.passthrough'
  const title = 'Passthrough (identity) by default on the command line'
  const intent = parseIommuCmdline(a.ctx.cmdline)
  const evidence = [{path: CMDLINE, value: intent.params.join(' ') || null}]
  if (intent.passthrough !== true) {
    return a.ok(id, title, 'the command line does not ask for identity default domains', evidence)
  }
  a.found({
    id,
    level: 'medium',
    title,
    summary: `the command line asks for identity default domains (${intent.params.join(' ')}): every device the kernel trusts, and every one added later, DMAs untranslated`,
    devices: [],
    evidence,
    fix: 'Remove iommu=pt / iommu.passthrough=1 from the kernel command line and reboot (the kernel then translates DMA by default), or set translated domains for the groups that need them with `iommuctl groups set-type ID DMA`.',
  })
}

function identityDomains(a: Audit): void {
  const id = 'domains.identity'
  const title = 'Groups in identity (passthrough) domains'
  const groups = a.groupsOfType('identity')
  const types = a.ctx.typeCounts()
  const evidence = [{path: TYPES, value: [...types].map(([t, n]) => `${t}: ${n}`).join(', ')}]
  if (groups.length === 0) return a.ok(id, title, 'no group is in an identity domain', evidence)
  const devices = groups.flatMap((g) => g.devices)
  a.found({
    id,
    level: 'high',
    title,
    summary: `group${groups.length > 1 ? 's' : ''} ${groups.map((g) => g.id).join(', ')} (${devices.length} device${devices.length === 1 ? '' : 's'}) DMA untranslated: ${devices.join(', ')} can reach all of memory`,
    devices,
    evidence: [
      ...evidence,
      ...groups.slice(0, 16).map((g) => ({path: `${GROUPS_DIR}/${g.id}/type`, value: g.type})),
    ],
    fix: 'Give the groups translated domains: `iommuctl groups set-type ID DMA` (with the devices unbound), or boot without iommu=pt so that the kernel translates by default.',
  })
}

/** The PCI functions that are an IOMMU themselves (AMD-Vi, virtio-iommu): the kernel gives them no group. */
function iommuFunctions(a: Audit): Set<Bdf> {
  const out = new Set<Bdf>()
  for (const u of a.ctx.units) {
    const real = a.ctx.root.resolveLink(`${UNITS_DIR}/${u.name}`) ?? ''
    for (const c of real.split('/')) if (a.bdfs.includes(c)) out.add(c)
  }
  return out
}

function ungroupedDevices(a: Audit): void {
  const id = 'devices.ungrouped'
  const title = 'Devices outside every IOMMU group'
  const own = iommuFunctions(a)
  const grouped = new Set(a.ctx.groups.flatMap((g) => g.devices))
  const loose = a.bdfs.filter((b) => !grouped.has(b) && !own.has(b))
  const ownText = own.size
    ? `; ${[...own].join(', ')} ${own.size > 1 ? 'are IOMMUs' : 'is the IOMMU'} itself`
    : ''
  if (loose.length === 0) {
    return a.ok(id, title, `every PCI device is in a group${ownText}`, [
      {path: `${PCI_DEVICES_DIR}/*/iommu_group`, value: `${grouped.size} devices in groups`},
    ])
  }
  a.found({
    id,
    level: 'high',
    title,
    summary: `${loose.join(', ')} ${loose.length > 1 ? 'have' : 'has'} no IOMMU group: no IOMMU translates ${loose.length > 1 ? 'their' : 'its'} DMA${ownText}`,
    devices: loose,
    evidence: loose.slice(0, 16).map((b) => ({path: `${PCI_DEVICES_DIR}/${b}/iommu_group`, value: null})),
    fix: 'A device without a group is outside every IOMMU unit: check the firmware tables (`iommuctl firmware`: a DRHD or IVHD that leaves it out) and the kernel log for the unit that should cover it.',
  })
}

function lazyInvalidation(a: Audit): void {
  const id = 'dma.lazy'
  const title = 'Lazy IOTLB invalidation (DMA-FQ, iommu.strict=0)'
  const intent = parseIommuCmdline(a.ctx.cmdline)
  const groups = a.groupsOfType('DMA-FQ')
  const evidence = [
    {path: TYPES, value: [...a.ctx.typeCounts()].map(([t, n]) => `${t}: ${n}`).join(', ')},
    {path: CMDLINE, value: intent.params.join(' ') || null},
  ]
  if (groups.length === 0) {
    const asked =
      intent.strict === false ? '; iommu.strict=0 was asked for, but the driver kept them strict' : ''
    return a.ok(id, title, `no translated group invalidates lazily${asked}`, evidence)
  }
  const devices = groups.flatMap((g) => g.devices)
  a.found({
    id,
    level: 'medium',
    title,
    summary: `group${groups.length > 1 ? 's' : ''} ${groups.map((g) => g.id).join(', ')} ${groups.length > 1 ? 'are' : 'is'} DMA-FQ${intent.strict === false ? ' (iommu.strict=0)' : ''}: an unmapped buffer stays reachable by its device until the flush queue is drained (up to some milliseconds)`,
    devices,
    evidence,
    fix: 'Boot with iommu.strict=1 for strict invalidation (at some cost in DMA map/unmap speed), or set a group strict with `iommuctl groups set-type ID DMA`.',
  })
}

/**
 * Devices with ATS enabled. A device with ATS may send requests marked as translated, which the
 * IOMMU lets through: it is trusted with all of memory. The kernel never enables ATS for a
 * device it marks untrusted (drivers/pci/ats.c pci_ats_supported), that is one behind a port the
 * firmware calls external-facing (drivers/pci/probe.c set_pcie_untrusted), which sysfs shows as
 * `removable` (pci_set_removable, drivers/base/core.c removable_show).
 */
function atsDevices(a: Audit): void {
  const id = 'ats.enabled'
  const title = 'Devices with ATS enabled (trusted with translated requests)'
  const enabled: {bdf: Bdf; removable: boolean}[] = []
  const unknown: Bdf[] = []
  let capable = 0
  const removable: Bdf[] = []
  for (const bdf of a.bdfs) {
    const node = a.topology.get(bdf)
    if (!node) continue
    const where = a.ctx.root.readText(`${node.sysfs.sysfsPath}/removable`)
    if (where === 'removable') removable.push(bdf)
    if (!node.config?.complete) {
      unknown.push(bdf)
      continue
    }
    if (!node.config.ats) continue
    capable++
    if (node.config.ats.enabled) enabled.push({bdf, removable: where === 'removable'})
  }
  if (unknown.length) {
    a.notes.push(
      `ATS state unknown for ${unknown.length} device${unknown.length > 1 ? 's' : ''}: extended config space is readable by root only`,
    )
  }
  const removableText = removable.length
    ? `; ${removable.length} removable (behind an external-facing port): ${removable.join(', ')}`
    : ''
  const evidence = [
    {
      path: `${PCI_DEVICES_DIR}/*/config`,
      value: `${capable} with an ATS capability, ${enabled.length} enabled`,
    },
    {
      path: `${PCI_DEVICES_DIR}/*/removable`,
      value: removable.length ? removable.join(', ') : 'none removable',
    },
  ]
  if (enabled.length === 0) {
    return a.ok(
      id,
      title,
      `${unknown.length === a.bdfs.length ? 'cannot tell without root' : 'no device has ATS enabled'}${capable ? ` (${capable} capable)` : ''}${removableText}`,
      evidence,
    )
  }
  const outside = enabled.filter((e) => e.removable)
  const devices = enabled.map((e) => e.bdf)
  a.found({
    id,
    level: outside.length ? 'high' : 'low',
    title,
    summary: outside.length
      ? `${outside.map((e) => e.bdf).join(', ')} ${outside.length > 1 ? 'are' : 'is'} removable (behind an external-facing port) with ATS enabled: the kernel does not treat ${outside.length > 1 ? 'them' : 'it'} as untrusted, and a device with ATS can send requests marked translated to any address`
      : `${devices.join(', ')} ${devices.length > 1 ? 'have' : 'has'} ATS enabled: ${devices.length > 1 ? 'they' : 'it'} may send requests marked translated, which the IOMMU does not check`,
    devices,
    evidence: [
      ...evidence,
      ...enabled.slice(0, 16).map((e) => ({
        path: `${PCI_DEVICES_DIR}/${e.bdf}/removable`,
        value: e.removable ? 'removable' : null,
      })),
    ],
    fix: outside.length
      ? 'The port above the device should be marked external-facing by the firmware (ACPI ExternalFacingPort), so that the kernel marks what is behind it untrusted and keeps ATS off: update the firmware or enable "Kernel DMA Protection" in its setup; until then boot with pci=noats.'
      : 'Expected for integrated accelerators and SR-IOV NICs the platform trusts. For a device that is not trusted, boot with pci=noats.',
  })
}

function interruptRemapping(a: Audit): void {
  const id = 'irq.remapping'
  const title = 'Interrupt remapping'
  const ir = readInterruptRemapping(a.ctx)
  if (ir.remapped === null) {
    a.notes.push('interrupt remapping: cannot tell without /proc/interrupts')
  } else if (ir.remapped) {
    a.ok(id, title, `in use; ${ir.support.join('; ')}`, ir.evidence)
  } else {
    a.found({
      id,
      level: 'high',
      title,
      summary: `interrupts are not remapped (${ir.support.join('; ')}): any device that can write the MSI window (0xfee00000) can raise any interrupt on any CPU`,
      devices: [],
      evidence: ir.evidence,
      fix: 'Enable interrupt remapping: on Intel, x2APIC in the firmware setup and no intremap=off on the command line; on AMD, no amd_iommu=... or intremap=off overriding it; a VM needs a vIOMMU with interrupt remapping (QEMU: intel-iommu,intremap=on; virtio-iommu has none on x86).',
    })
  }
  const unsafeId = 'vfio.unsafe-interrupts'
  const unsafeTitle = 'VFIO and iommufd allow_unsafe_interrupts'
  const params = ir.evidence.filter((e) => e.path.endsWith('/allow_unsafe_interrupts'))
  if (ir.allowed.length === 0) return a.ok(unsafeId, unsafeTitle, 'not set', params)
  a.found({
    id: unsafeId,
    level: ir.remapped === false ? 'high' : 'info',
    title: unsafeTitle,
    summary: `set for ${ir.allowed.join(' and ')}${ir.remapped === false ? ': VFIO hands devices to userspace and guests without interrupt remapping, so they can inject interrupts into the host' : ', but interrupts are remapped: it has no effect here'}`,
    devices: [],
    evidence: params,
    fix: 'Clear it (echo N > /sys/module/MODULE/parameters/allow_unsafe_interrupts, and drop it from modprobe.d) once interrupt remapping is on.',
  })
}

function directRegions(a: Audit): void {
  const id = 'direct.regions'
  const title = 'Firmware 1:1 (direct) mappings'
  const found = directGroups(
    a.ctx.root,
    a.topology,
    a.ctx.groups.map((g) => ({id: g.id, devices: g.devices})),
  )
  if (found.length === 0) {
    return a.ok(id, title, 'no group has a direct or direct-relaxable reserved region', [
      {path: `${GROUPS_DIR}/*/reserved_regions`, value: 'no direct or direct-relaxable region'},
    ])
  }
  for (const f of found) a.notes.push(...f.mapping.notes.map((n) => `group ${f.id}: ${n}`))
  const hard = found.filter((f) => f.mapping.requiresDirect)
  const devicesOf = (fs: typeof found) =>
    fs.flatMap((f) => a.ctx.groups.find((g) => g.id === f.id)?.devices ?? [])
  const ranges = (fs: typeof found) =>
    fs.map(
      (f) => `group ${f.id}: ${f.mapping.reserved.map((r) => `${r.start}-${r.end} ${r.type}`).join(', ')}`,
    )
  a.found({
    id,
    level: hard.length ? 'medium' : 'low',
    title,
    summary: `${ranges(found).join('; ')}: the devices reach these physical ranges untranslated in every domain the kernel gives them${hard.length ? '; a direct region keeps the group from VFIO' : ''}`,
    devices: devicesOf(found),
    evidence: found.map((f) => ({
      path: f.path,
      value: f.mapping.reserved.map((r) => `${r.start} ${r.end} ${r.type}`).join('; '),
    })),
    fix: 'Firmware RMRRs (Intel) and IVMDs (AMD) ask for these mappings, usually for USB legacy emulation or a frame buffer: `iommuctl firmware` shows which; a firmware setting (legacy USB off) or update may remove them.',
  })
}

/** Units that can do SVA: VT-d scalable mode with PASID and page requests; AMD-Vi with PPR and guest page tables. */
function svaUnits(a: Audit): {units: Set<string>; evidence: Evidence[]} {
  const units = new Set<string>()
  const evidence: Evidence[] = []
  for (const u of a.ctx.hardwareUnits) {
    const dir = a.ctx.root.resolveLink(`${UNITS_DIR}/${u.name}`) ?? `${UNITS_DIR}/${u.name}`
    if (u.kind === 'intel-vtd') {
      const ecap = a.ctx.file(`${dir}/intel-iommu/ecap`)
      evidence.push(ecap)
      const e = parseVtdRegisters({version: null, address: null, cap: null, ecap: ecap.value}).ecapFields
      if (e?.smts && e.pasid && e.prs) units.add(u.name)
    } else if (u.kind === 'amd-vi') {
      const features = a.ctx.file(`${dir}/amd-iommu/features`)
      evidence.push(features)
      const f = parseAmdViRegisters({cap: null, features: features.value}).features
      if (f?.pprSup && f.gtSup) units.add(u.name)
    }
  }
  return {units, evidence}
}

/** Shared Virtual Addressing: a device that walks a process's page tables reaches that process's memory. */
function sharedVirtualAddressing(a: Audit): void {
  const id = 'sva'
  const title = 'Shared virtual addressing (PASID with page requests)'
  const {units, evidence} = svaUnits(a)
  const capable = a.bdfs.filter((bdf) => {
    const node = a.topology.get(bdf)
    return !!(node?.config?.pasid && node.config.pri && node.sysfs.unit && units.has(node.sysfs.unit))
  })
  const uacce = a.ctx.root.list('/sys/class/uacce')
  const wqs = a.ctx.root
    .list('/sys/bus/dsa/devices')
    .filter((n) => /^wq\d+\.\d+$/.test(n))
    .map((n) => ({name: n, mode: a.ctx.root.readText(`/sys/bus/dsa/devices/${n}/mode`)}))
  const shared = wqs.filter((w) => w.mode === 'shared')
  evidence.push(
    {path: '/sys/class/uacce', value: uacce.length ? uacce.join(', ') : null},
    {
      path: '/sys/bus/dsa/devices/*/mode',
      value: wqs.length ? wqs.map((w) => `${w.name}: ${w.mode ?? '?'}`).join(', ') : null,
    },
  )
  const inUse = [...uacce.map((u) => `uacce ${u}`), ...shared.map((w) => `idxd ${w.name} (shared)`)]
  if (capable.length === 0 && inUse.length === 0) {
    return a.ok(
      id,
      title,
      `${units.size ? `${[...units].join(', ')} support${units.size === 1 ? 's' : ''} SVA, but no` : 'no unit supports SVA and no'} device has PASID and PRI`,
      evidence,
    )
  }
  a.found({
    id,
    level: inUse.length ? 'medium' : 'info',
    title,
    summary: inUse.length
      ? `in use: ${inUse.join(', ')}: these devices DMA to the virtual addresses of the processes that opened them`
      : `${capable.join(', ')} ${capable.length > 1 ? 'have' : 'has'} PASID and PRI on a unit that supports SVA (${[...units].join(', ')}): a driver can bind ${capable.length > 1 ? 'them' : 'it'} to a process's address space`,
    devices: capable,
    evidence,
    fix: 'Expected where accelerators (DSA, IAA, QAT, uacce) serve processes; each bound process trusts the device with its memory. Unbind the driver or configure work queues as dedicated where that is not wanted.',
  })
}

/** vDPA devices: their DMA goes through the parent's group, or through translation on the device itself. */
function vdpaDevices(a: Audit): void {
  const id = 'vdpa'
  const title = 'vDPA devices'
  const dir = '/sys/bus/vdpa/devices'
  const names = a.ctx.root.list(dir)
  if (names.length === 0) return a.ok(id, title, 'no vDPA device', [{path: dir, value: null}])
  const grouped = new Map(a.ctx.groups.flatMap((g) => g.devices.map((d) => [d, g] as const)))
  const rows = names.map((n) => {
    const real = a.ctx.root.resolveLink(`${dir}/${n}`) ?? ''
    const parent =
      real
        .split('/')
        .filter((c) => a.bdfs.includes(c))
        .at(-1) ?? null
    const group = parent ? (grouped.get(parent) ?? null) : null
    const driver = a.ctx.root.linkName(`${dir}/${n}/driver`)
    const via = parent
      ? group
        ? `parent ${parent}, group ${group.id} (${group.type ?? 'unknown'})`
        : `parent ${parent}, no group`
      : 'no PCI parent (software device or on-device translation)'
    return {n, parent, driver, via}
  })
  a.found({
    id,
    level: 'info',
    title,
    summary: rows.map((r) => `${r.n} on ${r.driver ?? 'no driver'}: ${r.via}`).join('; '),
    devices: rows.map((r) => r.parent).filter((p): p is Bdf => p !== null),
    evidence: rows.map((r) => ({path: `${dir}/${r.n}/driver`, value: r.driver})),
    fix: "A vDPA device on vhost_vdpa DMAs where its user (a VMM) maps it, through the parent's group: keep that group translated (`iommuctl groups show ID`).",
  })
}

function vfioNoIommu(a: Audit): void {
  const id = 'vfio.noiommu'
  const title = 'VFIO no-IOMMU mode'
  const param = a.ctx.file('/sys/module/vfio/parameters/enable_unsafe_noiommu_mode')
  if (!isSet(param.value)) return a.ok(id, title, 'off', [param])
  const nodes = a.ctx.root.list('/dev/vfio').filter((n) => n.startsWith('noiommu-'))
  a.found({
    id,
    level: 'critical',
    title,
    summary: `enable_unsafe_noiommu_mode is set${nodes.length ? ` and ${nodes.map((n) => `/dev/vfio/${n}`).join(', ')} exist` : ''}: a user of VFIO can program devices to DMA anywhere in memory`,
    devices: [],
    evidence: [param, {path: '/dev/vfio/noiommu-*', value: nodes.join(', ') || null}],
    fix: 'Clear it (echo N > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode, and drop it from modprobe.d) and use an IOMMU.',
  })
}

/** Thunderbolt and USB4 domains: drivers/thunderbolt/domain.c's security and iommu_dma_protection. */
function thunderbolt(a: Audit): void {
  const id = 'thunderbolt.dma-protection'
  const title = 'Thunderbolt / USB4 kernel DMA protection'
  const dir = '/sys/bus/thunderbolt/devices'
  const domains = a.ctx.root.list(dir).filter((n) => /^domain\d+$/.test(n))
  if (domains.length === 0) {
    return a.ok(id, title, 'no Thunderbolt or USB4 domain', [{path: dir, value: null}])
  }
  for (const d of domains) {
    const protection = a.ctx.file(`${dir}/${d}/iommu_dma_protection`)
    const security = a.ctx.file(`${dir}/${d}/security`)
    const evidence = [protection, security]
    if (protection.value === '1' && security.value !== 'none') {
      a.ok(
        id,
        title,
        `${d}: IOMMU DMA protection on, security level ${security.value ?? 'unknown'}`,
        evidence,
      )
      continue
    }
    const on = protection.value === '1'
    a.found({
      id,
      level: on ? 'low' : 'high',
      title,
      summary: on
        ? `${d}: IOMMU DMA protection on, but security level none: every PCIe device plugged in is connected without asking (its DMA is still confined by the IOMMU)`
        : `${d}: no IOMMU DMA protection (iommu_dma_protection ${protection.value ?? 'absent'}, security ${security.value ?? 'unknown'}): a device plugged into this port may DMA before or beyond the IOMMU`,
      devices: [],
      evidence,
      fix: on
        ? 'Set the security level to user or secure in the firmware setup, and authorize devices with boltctl.'
        : 'Enable the IOMMU and the firmware\'s "Kernel DMA Protection" (it sets DMAR DMA_CTRL_PLATFORM_OPT_IN or the IVRS DMA remapping bit and marks the ports external-facing); meanwhile set the security level to user or secure.',
    })
  }
}

/**
 * Pre-boot DMA protection: the firmware kept DMA remapping on until the OS took over and asks it
 * to keep it on (DMAR DMA_CTRL_PLATFORM_OPT_IN; IVRS IVinfo DMA remapping). The kernel honours it
 * (intel/iommu.c platform_optin_force_iommu) unless intel_iommu=no_platform_optin or iommu=off.
 */
function prebootProtection(a: Audit, iommu: boolean): void {
  const id = 'firmware.preboot-dma'
  const title = 'Pre-boot DMA protection (firmware opt-in)'
  const {firmware, notes} = firmwareForDirect(a.ctx.root)
  a.notes.push(...notes)
  const tables = (firmware?.tables ?? []).filter((t) => t.dmar || t.ivrs)
  if (tables.length === 0) {
    // Tables the reader could not read (root only) are the firmware record's own notes.
    if (!firmware || firmware.notes.length) return void a.notes.push(...(firmware?.notes ?? []))
    return a.ok(id, title, 'no DMAR or IVRS table (not an ACPI VT-d or AMD-Vi platform)', [
      {path: '/sys/firmware/acpi/tables', value: null},
    ])
  }
  const evidence: Evidence[] = []
  const optIn: string[] = []
  const without: string[] = []
  for (const t of tables) {
    const path = `/sys/firmware/acpi/tables/${t.name}`
    if (t.dmar) {
      const on = t.dmar.dmaCtrlPlatformOptIn
      evidence.push({
        path,
        value: `flags 0x${(t.dmar.flags ?? 0).toString(16)}: DMA_CTRL_PLATFORM_OPT_IN ${on ? 'set' : 'clear'}`,
      })
      ;(on ? optIn : without).push(t.name)
    } else if (t.ivrs?.info) {
      const on = t.ivrs.info.dmaRemap
      evidence.push({path, value: `IVinfo ${t.ivrs.info.raw}: DMA remapping ${on ? 'set' : 'clear'}`})
      ;(on ? optIn : without).push(t.name)
    }
  }
  const intent = parseIommuCmdline(a.ctx.cmdline)
  evidence.push({path: CMDLINE, value: intent.params.join(' ') || null})
  if (optIn.length === 0) {
    a.found({
      id,
      level: 'low',
      title,
      summary: `${without.join(', ')} ${without.length > 1 ? 'do' : 'does'} not declare pre-boot DMA protection: devices may DMA freely between power-on and the kernel enabling the IOMMU, and the kernel does not mark external-facing ports untrusted on its own`,
      devices: [],
      evidence,
      fix: 'Enable "Kernel DMA Protection" / "Pre-boot DMA protection" (or "IOMMU pre-boot") in the firmware setup, or update the firmware.',
    })
  } else if (!iommu || intent.noPlatformOptIn) {
    a.found({
      id,
      level: 'high',
      title,
      summary: `${optIn.join(', ')} ${optIn.length > 1 ? 'declare' : 'declares'} pre-boot DMA protection, but the kernel did not keep it: ${intent.noPlatformOptIn ? 'intel_iommu=no_platform_optin is on the command line' : 'no IOMMU is in use'}`,
      devices: [],
      evidence,
      fix: 'Remove intel_iommu=no_platform_optin and iommu=off from the kernel command line and reboot.',
    })
  } else {
    a.ok(
      id,
      title,
      `${optIn.join(', ')} ${optIn.length > 1 ? 'declare' : 'declares'} it and the IOMMU is in use`,
      evidence,
    )
  }
}
