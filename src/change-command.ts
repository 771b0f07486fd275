import {Command, Flags, Interfaces} from '@oclif/core'

import {BaseCommand, CommandFlags} from './base-command.js'
import {ChangeOptions, ChangeReport} from './configure/changes.js'
import {DEFAULT_HOST_CONFIG} from './configure/host-config.js'
import {DEFAULT_JOURNAL_DIR} from './configure/journal.js'
import {PersistEdit, persistEdits} from './configure/persist.js'
import {Step} from './step.js'
import {bold, colour, dim, safe, table} from './render/style.js'

/** The flags and the output shared by the commands that change drivers and group types. */
export abstract class ChangeCommand<
  T extends typeof Command & {flags: typeof ChangeCommand.changeFlags},
> extends BaseCommand<T> {
  static changeFlags = {
    'dry-run': Flags.boolean({summary: 'Print the plan and change nothing.'}),
    force: Flags.boolean({
      summary: 'Take devices the host is using: an IOMMU, a mounted disk, the boot display, a NIC in use.',
    }),
    'journal-dir': Flags.string({
      default: DEFAULT_JOURNAL_DIR,
      env: 'IOMMUCTL_JOURNAL_DIR',
      summary: 'Where the journal of changes (what restore gives back) is kept.',
    }),
  }

  /** T's flags include changeFlags (the constraint above), so they are parsed. */
  declare protected flags: CommandFlags<T> & Interfaces.InferredFlags<typeof ChangeCommand.changeFlags>

  /** Options for the configure layer: in table mode the plan and each step print as they happen. */
  protected changeOptions(): ChangeOptions {
    const f = this.flags
    const live = !this.jsonEnabled()
    return {
      dryRun: f['dry-run'] ?? false,
      force: f.force ?? false,
      journalDir: f['journal-dir'],
      onPlan: live ? (r) => this.printPlan(r) : undefined,
      onStep: live && !f['dry-run'] ? (s) => this.log(stepLine(s)) : undefined,
    }
  }

  /**
   * --persist: the config entries of the named devices edited to what the run left them on (a
   * dry run edits nothing). Recorded in the report.
   */
  protected async persist(
    r: ChangeReport,
    flags: {persist?: boolean; config?: string},
    edits: PersistEdit[],
  ): Promise<void> {
    if (!flags.persist || r.dryRun) return
    const file = flags.config ?? this.root.abs(DEFAULT_HOST_CONFIG)
    await persistEdits(file, edits)
    r.persisted = file
  }

  /** The end of a run in table mode (the plan and steps were printed as they happened). */
  protected printResult(r: ChangeReport): void {
    if (this.jsonEnabled()) return
    // Nothing to do: no plan was printed, so show the state that made it nothing.
    if (!r.changed && !r.dryRun) this.printPlan(r)
    this.log(r.dryRun ? `${bold('dry run:')} ${safe(r.summary)}` : safe(r.summary))
    if (r.persisted) this.log(safe(`Saved in ${r.persisted}: \`iommuctl host apply\` makes it so again.`))
  }

  private printPlan(r: ChangeReport): void {
    const state = (s: {driver: string | null; driverOverride: string | null}) =>
      `${s.driver ?? '(none)'}${s.driverOverride && s.driverOverride !== s.driver ? ` [override ${s.driverOverride}]` : ''}`
    if (r.devices.length) {
      this.log(
        table(
          ['DEVICE', 'GROUP', 'NOW', 'AFTER', 'WHY'],
          r.devices.map((d) => [
            d.bdf,
            d.group,
            state(d.from),
            d.changes ? state(d.to) : dim('unchanged'),
            [d.reason, d.note].filter(Boolean).join(': '),
          ]),
        ),
      )
    }
    // Reasons, warnings and step paths carry names from the root (a driver link's target): safe() escapes them.
    for (const s of r.skipped) this.log(dim(safe(`${s.bdf}: ${s.reason}`)))
    for (const i of r.forced) this.log(colour.yellow(safe(`forced: ${i.bdf}: ${i.reason}`)))
    for (const w of r.warnings) this.log(colour.yellow(safe(`warning: ${w}`)))
    if (r.dryRun && r.steps.length) {
      this.log(bold('\nsteps'))
      for (const s of r.steps) this.log(stepLine(s))
    }
    if (!r.dryRun && r.steps.length === 0 && r.devices.some((d) => d.changes)) this.log('')
  }
}

function stepLine(s: Step): string {
  const mark = {planned: ' ', done: colour.green('✓'), failed: colour.red('✗'), undone: colour.yellow('↶')}[
    s.status
  ]
  const what = s.path ? `${s.path} ← ${s.value === '' ? '(clear)' : s.value}` : (s.value ?? '')
  const line = `  ${mark} ${(s.bdf ?? '').padEnd(12)}  ${s.action.padEnd(12)}  ${safe(what)}`
  return s.error ? `${line}\n      ${colour.red(safe(s.error))}` : line
}
