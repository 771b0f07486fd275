import {Args} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {bashCompletion, zshCompletion} from '../render/completion.js'

export default class Completion extends BaseCommand<typeof Completion> {
  static args = {
    shell: Args.string({description: 'bash or zsh.', options: ['bash', 'zsh'], required: true}),
  }

  static description = `Prints a script that completes iommuctl's commands, flags and arguments as you type: subcommands, flag names, a flag's allowed values, files for paths (--root, --plan, -o, ...), and from the machine the shell runs on the PCI addresses (BDF arguments), IOMMU group numbers and IOMMU unit names. It is written from the tool's own list of commands, so it matches this version. zsh uses it through bashcompinit.`

  static enableJsonFlag = false

  static examples = [
    {command: 'source <(<%= config.bin %> <%= command.id %> bash)', description: 'Completion in this bash.'},
    {
      command:
        'sudo sh -c "<%= config.bin %> <%= command.id %> bash > /etc/bash_completion.d/<%= config.bin %>"',
      description: 'Completion in every new bash.',
    },
    {
      command: "echo 'source <(<%= config.bin %> <%= command.id %> zsh)' >> ~/.zshrc",
      description: 'Completion in zsh (after compinit in ~/.zshrc).',
    },
  ]

  static opensRoot = false

  static summary = 'Print a bash or zsh completion script.'

  async run(): Promise<void> {
    const print = this.args.shell === 'zsh' ? zshCompletion : bashCompletion
    process.stdout.write(print(this.config.bin, this.config.commands))
  }
}
