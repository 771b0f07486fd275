import {parseAmdViRegisters} from '../decode/amdvi.js'
import {parseVtdRegisters} from '../decode/vtd.js'
import {parseIommuCmdline} from '../sysfs/cmdline.js'
import {GroupSummary, listGroups, listUnits, UnitSummary, UNITS_DIR} from '../sysfs/inventory.js'
import {kernelConfig, moduleStates} from '../sysfs/kconfig.js'
import {parseMemlock} from '../sysfs/limits.js'
import {DevNode, Root} from '../sysfs/root.js'
import {directGroups} from './direct.js'
import {PciTopology} from './topology.js'
import {formatBytes} from './units-of-measure.js'

export type CheckResult = 'pass' | 'warn' | 'fail' | 'skip'

export interface Evidence {
  /** The file read (a host path), or what was asked of the system. */
  path: string
  /** What was found; null when the file was absent. */
  value: string | null
}

export interface Check {
  id: string
  title: string
  result: CheckResult
  /** One line: what was found. */
  summary: string
  evidence: Evidence[]
  /** What to do about a warn or fail, in plain words; null when nothing is to be done. */
  fix: string | null
}

export interface StatusRecord {
  root: string
  /** Whether an IOMMU is present and in use. */
  iommu: boolean
  /** No check failed (with --strict: none warned either). */
  ready: boolean
  strict: boolean
  counts: Record<CheckResult, number>
  checks: Check[]
}

export interface StatusOptions {
  strict: boolean
  /** Bytes of guest memory a VM would pin, from --vm-memory. */
  vmMemory: number | null
}

/** Units that are the kernel's iommufd selftest mock, not hardware. */
export const isSelftest = (u: {name: string}) => u.name.startsWith('iommufd_selftest_iommu')

/**
 * How the groups' default domains translate DMA: identity (passthrough) everywhere, not at all
 * (blocked, unmanaged), or translated with strict (DMA) or lazy (DMA-FQ) invalidation, then
 * possibly with some identity groups as well.
 */
export type TranslationMode = 'passthrough' | 'untranslated' | 'translated-strict' | 'translated-lazy'

export function translationMode(types: Map<string, number>, groups: number): TranslationMode {
  const identity = types.get('identity') ?? 0
  if (identity === groups) return 'passthrough'
  if ((types.get('DMA') ?? 0) + (types.get('DMA-FQ') ?? 0) === 0) return 'untranslated'
  return types.get('DMA-FQ') ? 'translated-lazy' : 'translated-strict'
}

/** Groups by default domain type, an unreadable type counted as "unknown". */
export function typeCounts(groups: {type: string | null}[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const g of groups) counts.set(g.type ?? 'unknown', (counts.get(g.type ?? 'unknown') ?? 0) + 1)
  return counts
}

export function readStatus(root: Root, opts: StatusOptions): StatusRecord {
  const ctx = new Context(root)
  const checks = [
    iommuPresent(ctx),
    iommuMode(ctx),
    domainTypes(ctx),
    interruptRemapping(ctx),
    vfioSupport(ctx),
    directMapped(ctx),
    lockedMemory(ctx, opts.vmMemory),
    hugepages(ctx, opts.vmMemory),
  ]
  const counts = {pass: 0, warn: 0, fail: 0, skip: 0}
  for (const c of checks) counts[c.result]++
  return {
    root: root.source,
    iommu: checks[0]!.result === 'pass',
    ready: counts.fail === 0 && (!opts.strict || counts.warn === 0),
    strict: opts.strict,
    counts,
    checks,
  }
}

/** What several checks read, read once; `audit` reads a host through the same one. */
export class Context {
  readonly units: UnitSummary[]
  readonly hardwareUnits: UnitSummary[]
  readonly groups: GroupSummary[]
  readonly cmdline: string | null

  constructor(readonly root: Root) {
    this.units = listUnits(root)
    this.hardwareUnits = this.units.filter((u) => !isSelftest(u))
    this.groups = listGroups(root)
    this.cmdline = root.readText('/proc/cmdline')
  }

  get hasIommu(): boolean {
    return this.hardwareUnits.length > 0 && this.groups.length > 0
  }

  typeCounts(): Map<string, number> {
    return typeCounts(this.groups)
  }

  /** Evidence line for a file, its content trimmed to one line. */
  file(path: string): Evidence {
    const text = this.root.readText(path)
    return {path, value: text === null ? null : oneLine(text)}
  }

  /** Whether a file exists, for root-only files such as ACPI tables that an unprivileged user may only see. */
  present(path: string): Evidence {
    return {path, value: this.root.exists(path) || this.unreadable(path) ? 'present' : null}
  }

  /** A snapshot records files it could see but not read. */
  unreadable(path: string): boolean {
    return this.root.manifest?.unreadable.some((u) => u.path === path) ?? false
  }
}

function check(
  id: string,
  title: string,
  result: CheckResult,
  summary: string,
  evidence: Evidence[],
  fix: string | null = null,
): Check {
  return {id, title, result, summary, evidence, fix}
}

function skipNoIommu(id: string, title: string): Check {
  return check(id, title, 'skip', 'no IOMMU in use', [])
}

export function iommuPresent(ctx: Context): Check {
  const title = 'An IOMMU is present and in use'
  const tables = [
    ctx.present('/sys/firmware/acpi/tables/DMAR'),
    ctx.present('/sys/firmware/acpi/tables/IVRS'),
  ]
  const firmware = tables.filter((t) => t.value).map((t) => t.path.split('/').pop())
  const evidence: Evidence[] = [
    {path: UNITS_DIR, value: ctx.units.map((u) => `${u.name} (${u.kind})`).join(', ') || null},
    {path: '/sys/kernel/iommu_groups', value: `${ctx.groups.length} groups`},
    ...tables,
    {path: '/proc/cmdline', value: ctx.cmdline},
  ]
  if (ctx.hasIommu) {
    const units = ctx.hardwareUnits.map((u) => `${u.name} (${u.kind})`).join(', ')
    const fw = firmware.length ? `, ${firmware.join(' and ')} table present` : ''
    return check('iommu.present', title, 'pass', `${units}; ${ctx.groups.length} groups${fw}`, evidence)
  }
  const intent = parseIommuCmdline(ctx.cmdline)
  let fix: string
  if (intent.disabled) {
    fix = `The kernel command line turns the IOMMU off (${intent.params.join(' ')}): remove that and reboot.`
  } else if (firmware.length > 0) {
    fix = `The firmware describes an IOMMU (${firmware.join(', ')}) but the kernel did not enable it: add intel_iommu=on (Intel) or check amd_iommu= (AMD) on the kernel command line, and check the kernel is built with CONFIG_INTEL_IOMMU or CONFIG_AMD_IOMMU.`
  } else {
    fix =
      'Enable the IOMMU (Intel VT-d, AMD-Vi / "IOMMU", or SMMU) in the firmware setup, then boot with intel_iommu=on on Intel hosts. In a VM, give the guest a virtual IOMMU (QEMU: -device intel-iommu or virtio-iommu-pci).'
  }
  const why = ctx.groups.length === 0 ? 'no IOMMU groups' : 'groups but no IOMMU unit'
  return check('iommu.present', title, 'fail', `No IOMMU is in use on this host: ${why}`, evidence, fix)
}

function iommuMode(ctx: Context): Check {
  const title = 'Translation mode (command line against effective state)'
  if (!ctx.hasIommu) return skipNoIommu('iommu.mode', title)
  const intent = parseIommuCmdline(ctx.cmdline)
  const types = ctx.typeCounts()
  const identity = types.get('identity') ?? 0
  const translated = (types.get('DMA') ?? 0) + (types.get('DMA-FQ') ?? 0)
  const mode = translationMode(types, ctx.groups.length)
  const effective =
    mode === 'passthrough'
      ? 'passthrough (identity default domains)'
      : mode === 'untranslated'
        ? 'no translated default domains'
        : `translated, ${mode === 'translated-lazy' ? 'lazy (DMA-FQ)' : 'strict (DMA)'} invalidation${identity ? `, ${identity} identity` : ''}`
  const evidence = [
    {path: '/proc/cmdline', value: intent.params.join(' ') || null},
    {path: '/sys/kernel/iommu_groups/*/type', value: [...types].map(([t, n]) => `${t}: ${n}`).join(', ')},
  ]
  const said = intent.params.length
    ? `command line: ${intent.params.join(' ')}`
    : 'command line: kernel defaults'
  const conflicts: string[] = []
  if (intent.passthrough === true && translated > 0) {
    conflicts.push(`passthrough was asked for, but ${translated} groups translate DMA`)
  }
  if (intent.passthrough === false && identity > 0)
    conflicts.push(`translation was asked for, but ${identity} groups are identity`)
  if (intent.strict === true && (types.get('DMA-FQ') ?? 0) > 0) {
    conflicts.push(`strict invalidation was asked for, but ${types.get('DMA-FQ')} groups are lazy (DMA-FQ)`)
  }
  if (intent.strict === false && (types.get('DMA') ?? 0) > 0 && !(types.get('DMA-FQ') ?? 0)) {
    conflicts.push(
      'lazy invalidation was asked for, but every translated group is strict (DMA): the driver may force strict mode, e.g. under virtualization',
    )
  }
  if (conflicts.length > 0) {
    return check(
      'iommu.mode',
      title,
      'warn',
      `${effective}; ${said}: ${conflicts.join('; ')}`,
      evidence,
      'The effective state is what counts. Change a group with `iommuctl groups set-type`, or check the kernel log for why the driver overrode the command line.',
    )
  }
  return check('iommu.mode', title, 'pass', `${effective}; ${said}`, evidence)
}

function domainTypes(ctx: Context): Check {
  const title = 'Default domain types'
  if (!ctx.hasIommu) return skipNoIommu('domains.types', title)
  const types = ctx.typeCounts()
  const summary = [...types].map(([t, n]) => `${t}: ${n}`).join(', ')
  const evidence = [{path: '/sys/kernel/iommu_groups/*/type', value: summary}]
  const blocked = ctx.groups.filter((g) => g.type === 'blocked').map((g) => g.id)
  if (blocked.length > 0) {
    return check(
      'domains.types',
      title,
      'warn',
      `${summary}; groups ${blocked.join(', ')} block all DMA`,
      evidence,
      'Devices in a blocked group cannot do DMA until a driver (VFIO, iommufd) attaches a domain; see `iommuctl groups show ID`.',
    )
  }
  return check('domains.types', title, 'pass', summary, evidence)
}

/** Whether interrupts are remapped, what each unit supports, and who allows unsafe interrupts. */
export interface InterruptRemapping {
  /** One line per unit: what it supports. */
  support: string[]
  /** IR- interrupt chips in /proc/interrupts; null without /proc/interrupts. */
  remapped: boolean | null
  /** Modules with allow_unsafe_interrupts set (vfio_iommu_type1, iommufd). */
  allowed: string[]
  evidence: Evidence[]
}

export function readInterruptRemapping(ctx: Context): InterruptRemapping {
  const support: string[] = []
  const evidence: Evidence[] = []
  for (const unit of ctx.hardwareUnits) {
    const dir = ctx.root.resolveLink(`${UNITS_DIR}/${unit.name}`) ?? `${UNITS_DIR}/${unit.name}`
    if (unit.kind === 'intel-vtd') {
      const ecap = ctx.file(`${dir}/intel-iommu/ecap`)
      evidence.push(ecap)
      const regs = parseVtdRegisters({version: null, address: null, cap: null, ecap: ecap.value})
      support.push(
        `${unit.name}: ${regs.ecapFields?.ir ? `IR supported${regs.ecapFields.eim ? ' with x2APIC' : ''}` : 'no IR'}`,
      )
    } else if (unit.kind === 'amd-vi') {
      const features = ctx.file(`${dir}/amd-iommu/features`)
      evidence.push(features)
      const regs = parseAmdViRegisters({cap: null, features: features.value})
      support.push(`${unit.name}: IR supported${regs.features?.gaSup ? ' (GA)' : ''}`)
    } else {
      support.push(`${unit.name}: ${unit.kind} has no interrupt remapping`)
    }
  }
  const interrupts = ctx.root.readText('/proc/interrupts')
  const remapped = interrupts === null ? null : /\bIR-/.test(interrupts)
  evidence.push({
    path: '/proc/interrupts',
    value: interrupts === null ? null : remapped ? 'IR- interrupt chips present' : 'no IR- interrupt chips',
  })
  const unsafe = [
    '/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts',
    '/sys/module/iommufd/parameters/allow_unsafe_interrupts',
  ].map((p) => ctx.file(p))
  evidence.push(...unsafe)
  const allowed = unsafe.filter((u) => isSet(u.value)).map((u) => u.path.split('/')[3]!)
  return {support, remapped, allowed, evidence}
}

/** A module's bool parameter as sysfs prints it (param_get_bool: Y or N). */
export const isSet = (value: string | null) => value === 'Y' || value === '1'

function interruptRemapping(ctx: Context): Check {
  const title = 'Interrupt remapping'
  if (!ctx.hasIommu) return skipNoIommu('irq.remapping', title)
  const {support, remapped, allowed, evidence} = readInterruptRemapping(ctx)
  const summary = support.join('; ')
  if (remapped) return check('irq.remapping', title, 'pass', `in use; ${summary}`, evidence)
  if (remapped === null) {
    return check(
      'irq.remapping',
      title,
      'warn',
      `cannot tell whether it is in use (no /proc/interrupts); ${summary}`,
      evidence,
    )
  }
  if (allowed.length > 0) {
    return check(
      'irq.remapping',
      title,
      'warn',
      `not in use, and allow_unsafe_interrupts is set for ${allowed.join(' and ')}; ${summary}`,
      evidence,
      'An assigned device can raise arbitrary interrupts (MSI injection) on this host. Enable interrupt remapping (Intel: intremap=on and x2APIC in firmware; a VM: a vIOMMU with interrupt remapping) and clear allow_unsafe_interrupts.',
    )
  }
  return check(
    'irq.remapping',
    title,
    'fail',
    `not in use; ${summary}`,
    evidence,
    'Without interrupt remapping VFIO refuses devices (EPERM on VFIO_DEVICE_BIND_IOMMUFD or VFIO_GROUP_SET_CONTAINER). Enable it (Intel: intremap=on, x2APIC in firmware), or, accepting that a device could inject interrupts, set allow_unsafe_interrupts=1 for iommufd and vfio_iommu_type1.',
  )
}

const VFIO_MODULES = ['vfio', 'vfio_pci', 'vfio_iommu_type1', 'iommufd']

function vfioSupport(ctx: Context): Check {
  const title = 'VFIO and iommufd'
  const states = moduleStates(ctx.root, VFIO_MODULES)
  const modules = VFIO_MODULES.map((m) => ({name: m, state: states.get(m)!}))
  const nodes = ['/dev/vfio/vfio', '/dev/iommu'].map((p) => ({path: p, node: ctx.root.devNode(p)}))
  const config = kernelConfig(ctx.root)
  const cdevConfig = config?.options.get('CONFIG_VFIO_DEVICE_CDEV') ?? null
  const evidence: Evidence[] = [
    ...modules.map((m) => ({path: `/sys/module/${m.name}`, value: m.state})),
    ...nodes.map(({path, node}) => ({path, value: node ? describeNode(node) : null})),
    ...(config ? [{path: config.source, value: `CONFIG_VFIO_DEVICE_CDEV=${cdevConfig ?? 'n'}`}] : []),
  ]
  const state = (m: string) => modules.find((x) => x.name === m)!.state
  const parts = [
    `vfio-pci ${state('vfio_pci')}`,
    `iommufd ${state('iommufd')}`,
    ...nodes.map(({path, node}) =>
      node ? `${path} ${node.mode} ${node.owner ?? node.uid}:${node.group ?? node.gid}` : `no ${path}`,
    ),
    `VFIO cdev ${cdevConfig === 'y' ? 'supported' : cdevConfig === null ? 'unknown' : 'not built'}`,
  ]
  const summary = parts.join(', ')
  const iommu = nodes[1]!.node
  if (state('vfio') === 'absent' && !nodes[0]!.node && !iommu) {
    return check(
      'vfio.support',
      title,
      'fail',
      summary,
      evidence,
      'Load VFIO: modprobe vfio-pci (and iommufd). If the modules do not exist the kernel was built without CONFIG_VFIO.',
    )
  }
  if (state('vfio_pci') === 'absent') {
    return check(
      'vfio.support',
      title,
      'warn',
      summary,
      evidence,
      'Load the driver devices are handed to: modprobe vfio-pci.',
    )
  }
  if (!iommu) {
    return check(
      'vfio.support',
      title,
      'warn',
      summary,
      evidence,
      'No /dev/iommu: load iommufd (modprobe iommufd) or use a kernel built with CONFIG_IOMMUFD; until then VFIO works through the legacy /dev/vfio/vfio container only.',
    )
  }
  return check('vfio.support', title, 'pass', summary, evidence)
}

/** drivers/iommu/iommu.c require_direct: a group with a direct reserved region cannot go to VFIO. */
function directMapped(ctx: Context): Check {
  const title = 'Firmware 1:1 mappings (RMRR, IVMD) that keep devices from VFIO'
  if (!ctx.hasIommu) return skipNoIommu('vfio.direct-mapped', title)
  const found = directGroups(ctx.root, new PciTopology(ctx.root), ctx.groups)
  const evidence: Evidence[] = found.length
    ? found.map((f) => ({
        path: f.path,
        value: f.mapping.reserved.map((r) => `${r.start} ${r.end} ${r.type}`).join('; '),
      }))
    : [{path: '/sys/kernel/iommu_groups/*/reserved_regions', value: 'no direct or direct-relaxable region'}]
  const blocked = found.filter((f) => f.mapping.requiresDirect)
  const relaxed = found.filter((f) => !f.mapping.requiresDirect)
  const relaxedText = relaxed.length
    ? `group${relaxed.length > 1 ? 's' : ''} ${relaxed.map((f) => f.id).join(', ')}: relaxable 1:1 regions only (USB or graphics), VFIO may take ${relaxed.length > 1 ? 'them' : 'it'}`
    : ''
  if (blocked.length === 0)
    return check(
      'vfio.direct-mapped',
      title,
      'pass',
      relaxedText || 'no group has a direct (1:1) reserved region',
      evidence,
    )
  const named = (f: (typeof found)[number]) => {
    const devs = [...new Set(f.mapping.firmware.flatMap((r) => r.devices))]
    return `group ${f.id}${devs.length ? ` (${devs.join(', ')})` : ''}`
  }
  return check(
    'vfio.direct-mapped',
    title,
    'warn',
    `${blocked.map(named).join(', ')}: the firmware requires a 1:1 mapping, so the kernel refuses ${blocked.length > 1 ? 'them' : 'it'} to VFIO and iommufd${relaxedText ? `; ${relaxedText}` : ''}`,
    evidence,
    'Leave these devices with the host, or ask the platform vendor for firmware without the RMRR/IVMD (some have a setting for it, e.g. legacy USB or a shared-memory feature); `iommuctl groups show ID` and `iommuctl firmware` show the region and its source.',
  )
}

function describeNode(n: DevNode): string {
  return `${n.type} ${n.major ?? '?'}:${n.minor ?? '?'} mode ${n.mode} owner ${n.owner ?? n.uid} group ${n.group ?? n.gid}`
}

/** CAP_IPC_LOCK lets a process pin memory past RLIMIT_MEMLOCK (vfio_iommu_type1 and iommufd both honour it). */
const CAP_IPC_LOCK = 14n

function lockedMemory(ctx: Context, vmMemory: number | null): Check {
  const title = 'Locked memory limit (RLIMIT_MEMLOCK)'
  if (ctx.root.dir !== '/' || ctx.root.isSnapshot) {
    return check('memlock', title, 'skip', 'a limit of this process on the live host; not in a snapshot', [])
  }
  const {line, soft, unlimited} = parseMemlock(ctx.root.readText('/proc/self/limits') ?? '')
  const capEff = /CapEff:\s*([0-9a-f]+)/.exec(ctx.root.readText('/proc/self/status') ?? '')?.[1]
  const ipcLock = capEff ? ((BigInt(`0x${capEff}`) >> CAP_IPC_LOCK) & 1n) === 1n : false
  const evidence = [
    {path: '/proc/self/limits', value: line ? oneLine(line) : null},
    {
      path: '/proc/self/status',
      value: capEff ? `CapEff ${capEff}: CAP_IPC_LOCK ${ipcLock ? 'held' : 'not held'}` : null,
    },
  ]
  const bytes = unlimited ? Infinity : soft === null ? null : Number(soft)
  const shown = bytes === null ? 'unknown' : bytes === Infinity ? 'unlimited' : formatBytes(bytes)
  const summary = `${shown}${ipcLock ? ', CAP_IPC_LOCK held (no limit applies)' : ''}`
  if (vmMemory === null) return check('memlock', title, 'pass', summary, evidence)
  if (ipcLock || bytes === Infinity || (bytes !== null && bytes >= vmMemory)) {
    return check(
      'memlock',
      title,
      'pass',
      `${summary}: enough to pin a ${formatBytes(vmMemory)} VM`,
      evidence,
    )
  }
  return check(
    'memlock',
    title,
    'fail',
    `${summary}: a ${formatBytes(vmMemory)} VM could not pin its memory`,
    evidence,
    `Raise the limit for the VMM to at least ${formatBytes(vmMemory)}: ulimit -l, LimitMEMLOCK= in its systemd unit, or memlock in /etc/security/limits.conf; or run it with CAP_IPC_LOCK.`,
  )
}

/** One hugepage pool directory (hugepages-2048kB): its pages and free pages, in bytes. */
function hugepagePool(
  ctx: Context,
  dir: string,
  evidence: Evidence[],
): {total: number; free: number; label: string} {
  const kb = Number(/hugepages-(\d+)kB$/.exec(dir)?.[1] ?? 0)
  const nr = Number(ctx.root.readText(`${dir}/nr_hugepages`) ?? 0)
  const fr = Number(ctx.root.readText(`${dir}/free_hugepages`) ?? 0)
  evidence.push({path: `${dir}/nr_hugepages`, value: String(nr)})
  return {
    total: nr * kb * 1024,
    free: fr * kb * 1024,
    label: nr > 0 ? `${nr} x ${formatBytes(kb * 1024)}` : '',
  }
}

function hugepages(ctx: Context, vmMemory: number | null): Check {
  const title = 'Hugepages'
  const evidence: Evidence[] = []
  const perNode: string[] = []
  let total = 0
  let free = 0
  const pools = (dir: string) =>
    ctx.root.list(dir).map((size) => hugepagePool(ctx, `${dir}/${size}`, evidence))
  const nodes = ctx.root.list('/sys/devices/system/node').filter((n) => /^node\d+$/.test(n))
  // Per NUMA node where the kernel lists nodes, else the global pools.
  for (const node of nodes.length ? nodes : [null]) {
    const found = pools(node ? `/sys/devices/system/node/${node}/hugepages` : '/sys/kernel/mm/hugepages')
    total += found.reduce((n, p) => n + p.total, 0)
    free += found.reduce((n, p) => n + p.free, 0)
    const sizes =
      found
        .map((p) => p.label)
        .filter(Boolean)
        .join(' + ') || 'none'
    perNode.push(node ? `${node}: ${sizes}` : `${sizes} (no NUMA nodes listed)`)
  }
  const summary = `${perNode.join('; ')}${total ? `; ${formatBytes(free)} free of ${formatBytes(total)}` : ''}`
  if (total === 0) {
    return check(
      'hugepages',
      title,
      'warn',
      `none configured (${summary})`,
      evidence,
      'DPDK and SPDK need hugepages, and VMs run faster on them: reserve some, e.g. echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages, or hugepagesz=1G hugepages=N on the kernel command line.',
    )
  }
  if (vmMemory !== null && free < vmMemory) {
    return check(
      'hugepages',
      title,
      'warn',
      `${summary}: fewer free than the ${formatBytes(vmMemory)} VM would need`,
      evidence,
      `Reserve at least ${formatBytes(vmMemory)} of hugepages on the VM's NUMA node, or back the VM with ordinary pages.`,
    )
  }
  return check('hugepages', title, 'pass', summary, evidence)
}

export function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim()
}
