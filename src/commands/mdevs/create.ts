import {Args, Flags} from '@oclif/core'

import {ChangeCommand} from '../../change-command.js'
import {ChangeReport} from '../../configure/changes.js'
import {createMdev} from '../../configure/mdevs.js'

export default class MdevsCreate extends ChangeCommand<typeof MdevsCreate> {
  static args = {
    type: Args.string({description: 'The mdev type, as `mdevs list` names it (mtty-2).', required: true}),
  }

  static description = `Writes the UUID to the type's create file (/sys/class/mdev_bus/PARENT/mdev_supported_types/TYPE/create), then checks that the mdev is there, and prints its UUID. The mdev lasts until it is removed or the host reboots, as mdevctl's transient mdevs do. The change is journalled (--journal-dir) while it runs: a run killed half-way is reported by the next change, and settled by removing (or creating) that UUID.

Refused before anything is written: a type no parent offers (the error lists those that are offered), a type offered by several parents without --parent, a type with no instances left (available_instances 0), a UUID already in use. The kernel's own refusals are reported in plain words.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> mtty-2',
      description: 'A dual-port mtty mdev with a random UUID.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> nvidia-35 --parent 0000:01:00.0 --uuid 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001',
      description: 'A vGPU of a given UUID on one GPU.',
    },
    {
      command: 'U=$(<%= config.bin %> <%= command.id %> mtty-1 --json | jq -r .mdev.uuid)',
      description: 'Keep the UUID for a plan.',
    },
  ]

  static flags = {
    ...ChangeCommand.changeFlags,
    parent: Flags.string({summary: 'The parent to create it on, when several offer the type.'}),
    uuid: Flags.string({summary: 'The UUID to give it (default: a random one).'}),
  }

  static summary = 'Create a mediated device of a type, journalled and verified.'

  async run(): Promise<ChangeReport> {
    const report = createMdev(this.root, this.args.type, {
      ...this.changeOptions(),
      parent: this.flags.parent,
      uuid: this.flags.uuid,
    })
    this.printResult(report)
    return report
  }
}
