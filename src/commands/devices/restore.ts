import {Args} from '@oclif/core'

import {ChangeCommand} from '../../change-command.js'
import {ChangeReport, restore} from '../../configure/changes.js'

export default class DevicesRestore extends ChangeCommand<typeof DevicesRestore> {
  static args = {
    bdf: Args.string({description: 'PCI addresses to restore (default: every device in the journal).'}),
  }

  static description = `Puts every device in the journal (or the named ones) back on the driver and driver_override it had before iommuctl changed it, checks that it is there, and drops it from the journal. A run that was killed half-way is repaired here: the journal is written before each change, so it always describes what to give back. A group type left changed by an interrupted \`groups set-type\` or \`host apply\` is put back too, and so are the VF counts and hugepage pools an interrupted \`host apply\` changed.

--dry-run shows what the journal holds and what would change.`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Undo everything iommuctl changed.'},
    {command: '<%= config.bin %> <%= command.id %> 0000:01:00.0', description: 'Give one device back.'},
    {command: '<%= config.bin %> <%= command.id %> --dry-run --json', description: 'What the journal holds.'},
  ]

  static flags = {...ChangeCommand.changeFlags}

  static strict = false

  static summary = 'Give devices back the drivers they had before iommuctl changed them (from the journal).'

  async run(): Promise<ChangeReport> {
    const report = restore(this.root, this.argvAll, this.changeOptions())
    this.printResult(report)
    return report
  }
}
