import {Args} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode} from '../errors.js'
import {openRoot} from '../host.js'
import {DiffReport, diffRoots} from '../model/diff.js'
import {renderDiff} from '../render/diff.js'
import {Root} from '../sysfs/root.js'

export default class Diff extends BaseCommand<typeof Diff> {
  static args = {
    a: Args.string({description: 'A snapshot (.tar.gz or directory) or a host root.', required: true}),
    b: Args.string({description: 'The other one; / (the live host) when omitted.', default: '/'}),
  }

  static description = `Compares two roots through the same models as units, groups, devices and status: units added or removed, their kind, capabilities (the decoded summary, scalable mode, PASID, nesting, dirty tracking, interrupt remapping); groups matched by their member BDFs, since group numbers change between boots: a default domain type or viability changed, a group split into several or several merged into one, added or removed; devices added or removed, their vendor:device and driver; status check results. What a kernel, firmware or BIOS update changed, or what a set-type or a bind did. --root is not read: the two roots are the arguments.

Exit status, as diff(1): 0 when there is no difference, 1 when there is one, 2 for a usage error (a root that is not one).`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> before-update.tar.gz',
      description: 'What a kernel or BIOS update changed on this host, against a snapshot taken before it.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> host-a.tar.gz host-b.tar.gz --json | jq \'.changes[] | select(.area == "group")\'',
      description: 'How two hosts group their devices differently.',
    },
  ]

  static opensRoot = false

  static summary = 'Show what changed between two snapshots, or a snapshot and this host.'

  async run(): Promise<DiffReport> {
    const roots: Root[] = []
    try {
      roots.push(await openRoot(this.args.a))
      roots.push(await openRoot(this.args.b))
      const report = diffRoots(roots[0]!, roots[1]!)
      if (!this.jsonEnabled()) this.log(renderDiff(report))
      process.exitCode = report.same ? ExitCode.ok : ExitCode.failure
      return report
    } finally {
      for (const r of roots) {
        for (const w of r.warnings) this.warn(w)
        r.close()
      }
    }
  }
}
