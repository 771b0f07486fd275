import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {parseSince} from '../decode/kernel-log.js'
import {ExitCode, IommuctlError} from '../errors.js'
import {readFaultLog} from '../model/fault-log.js'
import {FaultsReport} from '../model/faults.js'
import {renderFaultLine, renderFaults} from '../render/faults.js'
import {requireBdfs} from '../sysfs/pci.js'

export default class Faults extends BaseCommand<typeof Faults> {
  static description = `Finds the IOMMU fault and event records in the kernel log: Intel VT-d DMA and interrupt-remapping faults (every format kernels printed), AMD-Vi events (IO_PAGE_FAULT, ILLEGAL_DEV_TABLE_ENTRY, IOTLB_INV_TIMEOUT, INVALID_DEVICE_REQUEST, RMP_PAGE_FAULT and the rest, with their flag bits), Arm SMMUv3 events and SMMUv2 context faults, and the kernel's "callbacks suppressed" counts. Each is decoded with the kernel's own reason text, attributed to its device (name, driver, IOMMU group and its domain type, a reserved region holding the address, the devices behind a bridge whose requester ID it carries), and the repeats of one device and reason are counted with their first and last time. Each group says what usually causes it and what to check next. A line that names an IOMMU event in a form not known is kept as it is.

The log is the live host's /dev/kmsg (reading it needs CAP_SYSLOG when kernel.dmesg_restrict is 1), the copy \`iommuctl snapshot\` keeps under --root, or a saved \`dmesg\` or \`journalctl -k\` output given with --log (stdin with \`--log -\`). The devices are always those of --root.

Exit status: 0 when the log was read (with or without faults), 1 when it could not be, 2 for a usage error, 3 when the root has no kernel log.`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: 'What has the IOMMU refused on this host since boot?',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --log dmesg.txt --device 0000:03:00.0',
      description: "Explain the faults of one device in a user's saved dmesg.",
    },
    {
      command: 'journalctl -k -b -1 | <%= config.bin %> <%= command.id %> --log - --json',
      description: 'The faults of the previous boot, for a script.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --follow --since 120',
      description: 'Watch new faults as they come, from 120 s after boot on (Ctrl-C to stop).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --root host.tar.gz',
      description: "The faults in a customer's snapshot, attributed to its devices.",
    },
  ]

  static flags = {
    device: Flags.string({
      summary: 'Only the faults of this device (dddd:bb:dd.f), or reported under its bridge.',
      helpValue: 'BDF',
    }),
    follow: Flags.boolean({
      char: 'f',
      default: false,
      summary:
        'Keep reading new records until interrupted (live /dev/kmsg, or --log -); with --json one record per line.',
    }),
    log: Flags.string({
      summary: 'Read this saved dmesg or journalctl -k output instead (- for stdin).',
      helpValue: 'FILE|-',
    }),
    since: Flags.string({
      summary:
        'Only records at or after this time: seconds since boot (120.5) or a date (2026-12-02T00:25:00Z).',
      helpValue: 'TIME',
    }),
  }

  static summary = 'Decode and explain the IOMMU faults in the kernel log.'

  private following = false

  async run(): Promise<FaultsReport> {
    const {device, follow, log, since} = this.flags
    if (device !== undefined) requireBdfs([device])
    const sinceValue = since === undefined ? undefined : parseSince(since)
    if (sinceValue === null) {
      throw new IommuctlError(
        'USAGE',
        `--since ${JSON.stringify(since)} is neither seconds since boot nor a date.`,
        {
          exit: ExitCode.usage,
          suggestion: 'Give seconds since boot (120, 120.5) or a date and time (2026-12-02T00:25:00Z).',
        },
      )
    }
    this.following = follow
    let stopped = false
    const onSigint = () => {
      stopped = true
      // stdin waits for its next chunk: stop waiting.
      if (log === '-') process.stdin.destroy()
    }
    if (follow) process.once('SIGINT', onSigint)
    try {
      const report = await readFaultLog(this.root, {
        log,
        follow,
        since: sinceValue,
        device,
        stop: () => stopped,
        onRecord: follow
          ? (r) => process.stdout.write((this.jsonEnabled() ? JSON.stringify(r) : renderFaultLine(r)) + '\n')
          : undefined,
      })
      if (!this.jsonEnabled() && !follow) this.log(renderFaults(report))
      return report
    } finally {
      process.removeListener('SIGINT', onSigint)
    }
  }

  /** Under --follow the records went out one per line as they came: no report after them. */
  override logJson(json: unknown): void {
    if (!this.following) super.logJson(json)
  }
}
