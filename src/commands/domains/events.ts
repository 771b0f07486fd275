import {Args, Flags} from '@oclif/core'

import {EventsResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'
import {printQueue, renderEventRecord} from '../../session/follow.js'

export default class DomainsEvents extends SessionCommand<typeof DomainsEvents> {
  static args = {queue: Args.string({description: 'A vEVENTQ of the session: id or name.', required: true})}

  static description = `Reads the events a vIOMMU reported to the session's vEVENTQ QUEUE (struct iommufd_vevent_header and the type's record, as hex in memory order): each with its sequence number, and the events lost before it, both when the queue overflowed (the kernel's lost-events header) and when the sequence jumps between reads. Reading never waits. --follow keeps reading until interrupted, four times a second; with --json, one event per line (schemas/session-event.json), else {"events": [...]} (schemas/session-events.json).`

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %> evq', description: 'The events waiting in evq.'},
    {
      command: 'sudo <%= config.bin %> <%= command.id %> evq --follow --json',
      description: 'Every event as it comes, one JSON line each, until Ctrl-C.',
    },
  ]

  static flags = {
    ...SessionCommand.sessionFlags,
    follow: Flags.boolean({
      char: 'f',
      summary: 'Keep reading until interrupted; with --json one event per line.',
    }),
    max: Flags.integer({min: 1, max: 1024, summary: 'The most events one read takes (default 64).'}),
  }

  static opensRoot = false

  static summary = "Read the events in a session's vEVENTQ."

  private following = false

  async run(): Promise<EventsResult> {
    const f = this.flags
    const read = async () =>
      ((await this.request('read-events', {queue: this.args.queue, max: f.max})) as EventsResult).events
    const events = await printQueue(
      this,
      f.follow,
      read,
      renderEventRecord,
      `no events in ${this.args.queue}`,
    )
    // After --follow the events went out a line each (an error before this still is reported).
    this.following = f.follow
    return {events}
  }

  /** After --follow ends, what was read has gone out a line each: no report after it. */
  override logJson(json: unknown): void {
    if (!this.following) super.logJson(json)
  }
}
