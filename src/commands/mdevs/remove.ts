import {Args} from '@oclif/core'

import {ChangeCommand} from '../../change-command.js'
import {ChangeReport} from '../../configure/changes.js'
import {removeMdev} from '../../configure/mdevs.js'

export default class MdevsRemove extends ChangeCommand<typeof MdevsRemove> {
  static args = {
    uuid: Args.string({description: 'The mdev, by UUID.', required: true}),
  }

  static description = `Writes 1 to /sys/bus/mdev/devices/UUID/remove, then checks that the mdev is gone. Journalled while it runs, like \`mdevs create\`; if it fails half-way the mdev is made again with the same UUID and type.

Refused while a process has the mdev's VFIO cdev or group open (a VMM, an \`iommuctl apply --hold\`, a session): the kernel would wait for that process to let it go. A UUID that is no mdev is an error, unless it is what an interrupted create left: then its journal entry is settled.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001',
      description: 'Remove an mdev.',
    },
  ]

  static flags = {...ChangeCommand.changeFlags}

  static summary = 'Remove a mediated device, journalled and verified.'

  async run(): Promise<ChangeReport> {
    const report = removeMdev(this.root, this.args.uuid, this.changeOptions())
    this.printResult(report)
    return report
  }
}
