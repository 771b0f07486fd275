import {Args} from '@oclif/core'

import {IommuctlError} from '../../errors.js'
import {renderSessionObject} from '../../render/domains.js'
import type {EngineState, SessionObject} from '../../session/engine.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsShow extends SessionCommand<typeof DomainsShow> {
  static args = {id: Args.string({description: 'Object id, or the name it was given.', required: true})}

  static description =
    'An IOAS with its mappings, an HWPT with its IOAS, device and flags, or a bound device with what it is attached to.'

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %> 2', description: 'Object 2 of the default session.'},
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Show one object of a session.'

  async run(): Promise<SessionObject> {
    const state = (await this.request('status')) as EngineState
    const ref = this.args.id
    const o = state.objects.find((x) => String(x.id) === ref || x.name === ref)
    if (!o) {
      throw new IommuctlError('NO_SUCH_OBJECT', `No object ${ref} in session ${this.flags.session}.`, {
        suggestion: `Its objects: ${state.objects.map((x) => x.id).join(', ') || 'none'}.`,
      })
    }
    if (!this.jsonEnabled()) this.log(renderSessionObject(o))
    return o
  }
}
