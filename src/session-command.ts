import {Command, Flags, Interfaces} from '@oclif/core'

import {BaseCommand, CommandFlags} from './base-command.js'
import {request} from './session/client.js'
import {DEFAULT_SESSION_DIR} from './session/paths.js'
import {RequestArgs, RequestOp, SessionResult} from './session/protocol.js'

/** Commands that talk to a session daemon: which one, how long to wait for it, and one request to it. */
export abstract class SessionCommand<
  T extends typeof Command & {flags: typeof SessionCommand.sessionFlags},
> extends BaseCommand<T> {
  static sessionFlags = {
    session: Flags.string({default: 'default', summary: 'The session to talk to (session start --name).'}),
    'session-dir': Flags.string({
      default: DEFAULT_SESSION_DIR,
      env: 'IOMMUCTL_SESSION_DIR',
      summary: "Where sessions' sockets are.",
      helpGroup: 'GLOBAL',
    }),
    'connect-timeout': Flags.integer({
      default: 5,
      min: 1,
      summary: 'Seconds to wait for the session to accept the connection.',
      helpValue: 'SECONDS',
      helpGroup: 'GLOBAL',
    }),
    timeout: Flags.integer({
      default: 60,
      min: 1,
      summary:
        'Seconds to wait for the session to answer (attaching pins the memory mapped: large maps take long).',
      helpValue: 'SECONDS',
      helpGroup: 'GLOBAL',
    }),
  }

  /** T's flags include sessionFlags (the constraint above), so they are parsed. */
  declare protected flags: CommandFlags<T> & Interfaces.InferredFlags<typeof SessionCommand.sessionFlags>

  protected request<O extends RequestOp>(op: O, args?: RequestArgs<O>): Promise<SessionResult> {
    const f = this.flags
    return request(f['session-dir'], f.session, op, args, {
      connectMs: f['connect-timeout'] * 1000,
      replyMs: f.timeout * 1000,
    })
  }
}
