import {Args, Flags} from '@oclif/core'

import type {PageResponse} from '../../iommufd/events.js'
import {FaultsResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'
import {printQueue, renderFaultRecord} from '../../session/follow.js'

export default class DomainsFaults extends SessionCommand<typeof DomainsFaults> {
  static args = {
    queue: Args.string({description: 'A fault queue of the session: id or name.', required: true}),
  }

  static description = `Reads the page requests (struct iommu_hwpt_pgfault) that devices attached to the session's HWPTs made with --fault-queue have sent to QUEUE: the device (its iommufd id, and its address when it is the session's), PASID, group index, access, address and the cookie an answer names. Reading never waits: what is queued now, or nothing. --respond answers each group as its last request is read (success: the page is there now, retry; invalid: the access fails), as a VMM's fault handler must, or the device waits until the queue is destroyed (then the kernel answers invalid). --follow keeps reading until interrupted, four times a second; with --json, one request per line (schemas/session-fault.json), else {"faults": [...]} (schemas/session-faults.json).`

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> fq',
      description: 'The page requests waiting in the fault queue fq, unanswered.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> fq --follow --respond success --json',
      description: 'Answer every page request as it comes, one JSON line each, until Ctrl-C.',
    },
  ]

  static flags = {
    ...SessionCommand.sessionFlags,
    follow: Flags.boolean({
      char: 'f',
      summary: 'Keep reading until interrupted; with --json one request per line.',
    }),
    respond: Flags.string({
      options: ['success', 'invalid'],
      summary: 'Answer each group read (IOMMUFD_PAGE_RESP_SUCCESS or _INVALID).',
    }),
    max: Flags.integer({min: 1, max: 1024, summary: 'The most page requests one read takes (default 64).'}),
  }

  static opensRoot = false

  static summary = "Read (and answer) the page requests in a session's fault queue."

  private following = false

  async run(): Promise<FaultsResult> {
    const f = this.flags
    const read = async () =>
      (
        (await this.request('read-faults', {
          queue: this.args.queue,
          max: f.max,
          respond: f.respond as PageResponse | undefined,
        })) as FaultsResult
      ).faults
    const faults = await printQueue(
      this,
      f.follow,
      read,
      renderFaultRecord,
      `no page requests in ${this.args.queue}`,
    )
    // After --follow the requests went out a line each (an error before this still is reported).
    this.following = f.follow
    return {faults}
  }

  /** After --follow ends, what was read has gone out a line each: no report after it. */
  override logJson(json: unknown): void {
    if (!this.following) super.logJson(json)
  }
}
