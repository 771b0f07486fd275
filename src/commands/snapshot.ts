import {Flags} from '@oclif/core'
import {BaseCommand} from '../base-command.js'
import {ExitCode, IommuctlError} from '../errors.js'
import {renderSnapshot, renderUnreadable} from '../render/snapshot.js'
import {SnapshotResult, takeSnapshot} from '../snapshot/snapshot.js'

export default class Snapshot extends BaseCommand<typeof Snapshot> {
  static description = `Captures /sys/kernel/iommu_groups, /sys/class/iommu and its units, /sys/bus/pci (the attributes, links and config space the tool reads), the PCI drivers, mediated devices (/sys/class/mdev_bus parents with their types, /sys/bus/mdev devices), VFIO and iommufd module parameters, hugepages, /proc/cmdline, /proc/modules, /proc/config.gz, the ACPI DMAR and IVRS tables, and the mode and owner of /dev/iommu and /dev/vfio/*. Symlinks stay symlinks. Any command reads the result with --root, exactly as it reads the live host.

Runs unprivileged; files only root can read (full config space, firmware tables) are listed as unreadable in the output and in the snapshot's iommuctl-snapshot.json.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: 'Write iommuctl-snapshot-HOST.tar.gz in the current directory.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> -o host.tar.gz',
      description: 'A complete snapshot, config space included.',
    },
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> --debugfs -o live.tar.gz && <%= config.bin %> domains list --root live.tar.gz',
      description: 'With the live domains (debugfs), read back offline.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --dir ./host && <%= config.bin %> snapshot --root ./host --dir ./copy',
      description: 'Capture into a directory, then capture that snapshot again: the copy is the same tree.',
    },
    {
      command: 'ssh host sudo iommuctl snapshot -o - > host.tar.gz',
      description: 'Stream the .tar.gz to stdout.',
    },
  ]

  static flags = {
    debugfs: Flags.boolean({
      default: false,
      summary:
        "Also capture the IOMMU's debugfs (root only): VT-d's context and PASID tables, registers and each device's page-table dump (at most 4 MiB each; the manifest's cut lists what was cut); on AMD-Vi, what devtbl answers for each device and mmio for each register read, kept under devtbl.chosen/ and mmio.chosen/ (the files answer for a choice written first, so a copy alone would hold one answer). domains list, domains translate and units show read the live view offline.",
    }),
    dir: Flags.string({summary: 'Write a directory tree instead of a .tar.gz.', exclusive: ['output']}),
    force: Flags.boolean({default: false, summary: 'Replace the output if it exists.'}),
    output: Flags.string({
      char: 'o',
      summary: 'Where to write the .tar.gz; - for stdout.',
      helpValue: 'FILE',
    }),
  }

  static summary = 'Capture the IOMMU-relevant parts of /sys, /proc and /dev for offline use.'

  async run(): Promise<SnapshotResult> {
    const {dir, force, output} = this.flags
    if (output === '-' && this.jsonEnabled()) {
      throw new IommuctlError('USAGE', '-o - writes the snapshot to stdout, where --json would also go.', {
        exit: ExitCode.usage,
        suggestion: 'Write the snapshot to a file, or drop --json.',
      })
    }
    const root = this.root
    const result = await takeSnapshot(root, {
      output: dir ?? output ?? defaultName(root.readText('/proc/sys/kernel/hostname')),
      format: dir ? 'dir' : 'tar.gz',
      force,
      debugfs: this.flags.debugfs,
      tool: `${this.config.bin} ${this.config.version}`,
    })
    if (!this.jsonEnabled()) this.report(result, output === '-')
    return result
  }

  private report(r: SnapshotResult, toStdout: boolean): void {
    // With -o -, stdout carries the snapshot itself: the report goes to stderr.
    const text = renderSnapshot(r, {toStdout, cwd: process.cwd()})
    if (toStdout) this.logToStderr(text)
    else this.log(text)
    for (const w of r.warnings) this.warn(w)
    const unreadable = renderUnreadable(r)
    if (unreadable) this.logToStderr(unreadable)
  }
}

function defaultName(hostname: string | null): string {
  const safe = (hostname ?? 'host').replace(/[^A-Za-z0-9._-]/g, '_')
  return `iommuctl-snapshot-${safe}.tar.gz`
}
