import {Args, Flags} from '@oclif/core'

import type {EventRecord} from '../../session/engine.js'
import {EventsResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'
import {followQueue, renderEventRecord} from '../../session/follow.js'

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
    max: Flags.integer({min: 1, max: 1024, default: 64, summary: 'The most events one read takes.'}),
  }

  static opensRoot = false

  static summary = "Read the events in a session's vEVENTQ."

  private following = false

  async run(): Promise<EventsResult> {
    const f = this.flags
    const read = async () =>
      ((await this.request('read-events', {queue: this.args.queue, max: f.max})) as EventsResult).events
    if (f.follow) {
      await followQueue(read, (r) => this.line(r))
      // Printed as they came: no report after them (an error before this still is one).
      this.following = true
      return {events: []}
    }
    const events = await read()
    if (!this.jsonEnabled()) for (const r of events) this.line(r)
    if (!this.jsonEnabled() && !events.length) this.log(`no events in ${this.args.queue}`)
    return {events}
  }

  private line(r: EventRecord): void {
    process.stdout.write((this.jsonEnabled() ? JSON.stringify(r) : renderEventRecord(r)) + '\n')
  }

  /** After --follow ends, what was read has gone out a line each: no report after it. */
  override logJson(json: unknown): void {
    if (!this.following) super.logJson(json)
  }
}
