import {ExitCode, IommuctlError} from '../errors.js'
import {allowsVfio} from '../model/groups.js'
import {Bdf} from '../records.js'
import {requireBdfs} from '../sysfs/pci.js'
import {Root} from '../sysfs/root.js'
import {
  BindPlan,
  ChangeOptions,
  ChangeReport,
  Changer,
  DeviceChange,
  planBind,
  requireLive,
} from './changes.js'
import {driverAvailability, unknownDriver} from './drivers.js'
import {LoadedConfig, onlyDevice, resolveConfig} from './host-config.js'
import {Interlock} from './interlocks.js'
import {readDriverState, sameState} from './mover.js'
import {planSetType} from './set-type.js'
import {Change} from './transaction.js'

export interface HostApplyOptions extends ChangeOptions {
  /** Only what the config says about this device (its entry, its VFs, its group). */
  device?: string
}

const driverWords = (d: string | null) => d ?? 'no driver'

/**
 * `host apply`: one plan that makes the host as the config says, run by the same Transaction
 * as `devices bind` (journalled, interlocks and holders checked, rolled back on failure). Its
 * order: modules, VF counts (so that VFs exist before they are bound), device moves (the VFs
 * this run makes planned from their state once made), group types (drivers that do DMA
 * through the group unbound while it changes, then bound back), hugepages. A host already as
 * the config says gets an empty plan, and the report says so.
 */
export function hostApply(root: Root, config: LoadedConfig, opts: HostApplyOptions): ChangeReport {
  if (opts.device !== undefined) requireBdfs([opts.device])
  requireLive(root, opts.dryRun)
  let desired = resolveConfig(root, config)
  if (opts.device !== undefined) desired = onlyDevice(root, desired, opts.device)
  const ch = new Changer(root, 'host-apply', opts)

  const rows: DeviceChange[] = []
  const skipped: ChangeReport['skipped'] = []
  const forced: Interlock[] = []
  const warnings: string[] = []
  const modules = new Set<string>()
  const add = (c: DeviceChange, entry: string) => {
    const there = rows.find((r) => r.bdf === c.bdf)
    if (there && !sameState(there.to, c.to)) {
      throw new IommuctlError(
        'CONFIG_CONFLICT',
        `${desired.file}: ${entry}: ${c.bdf} would go to ${driverWords(c.to.driver)}, and another entry (or its group) sends it to ${driverWords(there.to.driver)}.`,
        {
          exit: ExitCode.usage,
          path: desired.file,
          suggestion: 'Give every device of a VFIO group the same driver.',
        },
      )
    }
    if (!there) rows.push(c)
  }
  const takeBind = (p: BindPlan, entry: string) => {
    for (const c of p.changes) add(c, entry)
    skipped.push(...p.skipped.filter((s) => !skipped.some((x) => x.bdf === s.bdf)))
    forced.push(...p.forced)
    warnings.push(...p.warnings)
    for (const m of p.modules) modules.add(m)
  }

  // VF counts first: the VFs a count makes are bound below, planned from their state once made.
  const sriov: Change[] = []
  const liveVfs = new Set<Bdf>()
  const byDriver = new Map<string, {bdfs: Bdf[]; group: boolean; entries: string[]}>()
  const unbound: {bdf: Bdf; entry: string}[] = []
  const want = (bdf: Bdf, driver: string | null, group: boolean, entry: string) => {
    if (driver === null) return unbound.push({bdf, entry})
    const d = byDriver.get(driver) ?? {bdfs: [], group: false, entries: []}
    d.bdfs.push(bdf)
    d.group ||= group
    d.entries.push(entry)
    byDriver.set(driver, d)
  }
  for (const v of desired.vfs) {
    const from = ch.device(v.pf).sriovNumVfs ?? 0
    if (from !== v.count) sriov.push({kind: 'sriov', bdf: v.pf, from, to: v.count})
    for (const [n, vf] of v.vfs.entries()) {
      if (vf.driver === undefined) continue
      if (from === v.count) {
        want(vf.bdf, vf.driver, false, v.entry)
        continue
      }
      // Not there yet: moved from whatever the kernel probes it with once made.
      liveVfs.add(vf.bdf)
      const to = {driver: vf.driver, driverOverride: vf.driver}
      if (vf.driver !== null && driverAvailability(root, vf.driver) === 'unknown')
        throw unknownDriver(root, vf.driver)
      if (vf.driver !== null && driverAvailability(root, vf.driver) === 'module') modules.add(vf.driver)
      add(
        {
          bdf: vf.bdf,
          group: null,
          reason: 'named',
          from: {driver: null, driverOverride: null},
          to: vf.driver === null ? {driver: null, driverOverride: null} : to,
          changes: true,
          note: `VF ${n} of ${v.pf}, made by this run: moved from the driver the kernel gives it`,
        },
        v.entry,
      )
    }
  }
  for (const d of desired.devices) for (const b of d.bdfs) want(b, d.driver!, d.group, d.entry)
  for (const [driver, d] of byDriver) takeBind(planBind(ch, d.bdfs, {driver, group: d.group}), d.entries[0]!)
  const leaving: DeviceChange[] = unbound.map(({bdf}) => {
    const from = readDriverState(root, bdf)
    const to = {driver: null, driverOverride: from.driverOverride}
    return {
      bdf,
      group: ch.device(bdf).group,
      reason: 'named',
      from,
      to,
      changes: !sameState(from, to),
      note: 'no driver, as the config says',
    }
  })
  forced.push(...ch.checkInterlocks(leaving))
  for (const [i, c] of leaving.entries()) add(c, unbound[i]!.entry)
  ch.refuseHeld(rows)

  // Group types, from where the moves above leave each member: a device off to vfio-pci (or to
  // no driver) does no DMA through the group's default domain, so it is not unbound for it.
  const offDma = new Set(
    rows.filter((r) => r.to.driver === null || allowsVfio(r.to.driver)).map((r) => r.bdf),
  )
  const types: Change[] = []
  const typeWords: string[] = []
  for (const g of desired.groups) {
    const p = planSetType(ch, g.group, g.type, true, offDma)
    if (!p) continue
    for (const u of p.unbinds) {
      if (rows.some((r) => r.bdf === u.bdf && r.changes)) {
        throw new IommuctlError(
          'CONFIG_CONFLICT',
          `${desired.file}: ${g.entry}: group ${g.group} changes type while ${u.bdf} in it moves to ${driverWords(rows.find((r) => r.bdf === u.bdf)!.to.driver)}, which does DMA through it.`,
          {
            exit: ExitCode.usage,
            path: desired.file,
            suggestion: 'Change the group type and that device in two runs (--device).',
          },
        )
      }
      rows.push(u)
    }
    forced.push(...p.forced)
    types.push(...p.changes)
    typeWords.push(`group ${g.group} ${p.current} → ${g.type}`)
  }

  const pools: Change[] = desired.hugepages.flatMap((h): Change[] => {
    const from = Number(root.readText(h.path) ?? 0)
    return from === h.count ? [] : [{kind: 'hugepages', path: h.path, from, to: h.count}]
  })

  const moves = rows.filter((r) => r.changes && r.reason !== 'group')
  const words = [
    ...sriov.map((c) => (c.kind === 'sriov' ? `${c.to} VFs on ${c.bdf}` : '')),
    ...moves.map((r) => `${r.bdf} → ${driverWords(r.to.driver)}`),
    ...typeWords,
    ...pools.map((c) => (c.kind === 'hugepages' ? `${c.to} pages in ${c.path}` : '')),
  ].join(', ')
  const deviceMoves = rows
    .filter((r) => !types.some((t) => t.kind === 'device' && t.bdf === r.bdf))
    .map((r): Change => ({
      kind: 'device',
      bdf: r.bdf,
      from: r.from,
      to: r.to,
      journal: 'record',
      ...(liveVfs.has(r.bdf) ? {live: true} : {}),
    }))
  ch.open()
  try {
    return ch.execute({
      devices: rows,
      changes: [
        ...[...modules].map((driver): Change => ({kind: 'load-module', driver})),
        ...sriov,
        ...deviceMoves,
        ...types,
        ...pools,
      ],
      skipped,
      forced,
      warnings: [...ch.factsWarning(), ...warnings],
      none: `Nothing to do: the host is as ${desired.file} says.`,
      plan: `Would make the host as ${desired.file} says: ${words}.`,
      done: `The host is as ${desired.file} says: ${words}; \`iommuctl devices restore\` gives the devices back.`,
    })
  } finally {
    ch.close()
  }
}
