import {renderState} from '../../render/session.js'
import type {EngineState} from '../../session/engine.js'
import {SessionCommand} from '../../session-command.js'

export default class SessionStatus extends SessionCommand<typeof SessionStatus> {
  static description =
    'Every object the session holds, with the id the kernel gave it: bound devices (and what they are attached to, PASIDs included), IOASes with their mappings, HWPTs with their IOAS, device and flags; and the memory pinned against the limit.'

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %>', description: 'What the default session holds.'},
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> --session vm0 --json | jq \'.objects[] | select(.kind=="ioas")\'',
      description: 'Its IOASes, as JSON.',
    },
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'List the objects a session holds.'

  async run(): Promise<EngineState> {
    const state = (await this.request('status')) as EngineState
    if (!this.jsonEnabled()) this.log(renderState(state))
    return state
  }
}
