import {Command, Flags} from '@oclif/core'

import {BaseCommand} from './base-command.js'
import {request} from './session/client.js'
import {DEFAULT_SESSION_DIR} from './session/paths.js'
import {RequestArgs, RequestOp, SessionResult} from './session/protocol.js'

/** Commands that talk to a session daemon: which one, how long to wait for it, and one request to it. */
export abstract class SessionCommand<T extends typeof Command> extends BaseCommand<T> {
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

  protected request<O extends RequestOp>(op: O, args?: RequestArgs<O>): Promise<SessionResult> {
    const f = this.flags as unknown as {
      session: string
      'session-dir': string
      'connect-timeout': number
      timeout: number
    }
    return request(f['session-dir'], f.session, op, args, {
      connectMs: f['connect-timeout'] * 1000,
      replyMs: f.timeout * 1000,
    })
  }
}
