import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode} from '../errors.js'
import {readStatus, StatusRecord} from '../model/status.js'
import {sizeArgument} from '../model/units-of-measure.js'
import {renderStatus} from '../render/status.js'

export default class Status extends BaseCommand<typeof Status> {
  static description = `Reads the effective state (sysfs, /proc, /dev), not just the kernel command line: whether an IOMMU is present and in use, the translation mode against what the command line asked for, the default domain types, interrupt remapping and allow_unsafe_interrupts, VFIO and iommufd (modules, /dev nodes, cdev support), this process's locked-memory limit, and hugepages per NUMA node. Each check has an id, a result (pass, warn, fail, skip), its evidence (the files read and the values found) and a fix.

Exit status: 0 when no check fails, 1 when one does (with --strict, when one warns), 3 when the host has no IOMMU in use.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: 'Is this host ready for device passthrough?',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --vm-memory 64G',
      description: 'Could a 64 GiB VM pin its memory here?',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --strict --json | jq -r \'.checks[] | select(.result != "pass") | .id\'',
      description: 'In a provisioning script: fail on warnings too, and list what is not passing.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --root host.tar.gz --verbose',
      description: "Check a customer's snapshot, with the evidence for every check.",
    },
  ]

  static flags = {
    strict: Flags.boolean({default: false, summary: 'Count warnings as failures.'}),
    verbose: Flags.boolean({
      char: 'v',
      default: false,
      summary: 'Show the evidence (files read, values found) under each check.',
    }),
    'vm-memory': Flags.string({
      summary: 'Check that a VM of this size (bytes, or with K, M, G, T: 16G, 512MiB) could pin its memory.',
      helpValue: 'SIZE',
    }),
  }

  static summary = 'Check whether this host is ready for device passthrough.'

  async run(): Promise<StatusRecord> {
    const sizeText = this.flags['vm-memory']
    const vmMemory = sizeText === undefined ? null : Number(sizeArgument('--vm-memory', sizeText))
    const record = readStatus(this.root, {strict: this.flags.strict, vmMemory})
    if (!this.jsonEnabled()) this.log(renderStatus(record, {verbose: this.flags.verbose}))
    process.exitCode = !record.iommu ? ExitCode.unavailable : record.ready ? ExitCode.ok : ExitCode.failure
    return record
  }
}
