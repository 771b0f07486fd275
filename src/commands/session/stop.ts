import {isAlive, readPid} from '../../pid.js'
import {isAnswering, sessionPaths} from '../../session/paths.js'
import {SessionStopped} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

export default class SessionStop extends SessionCommand<typeof SessionStop> {
  static description =
    'The daemon tears down every object (devices detached and unbound, HWPTs and IOASes destroyed, memory unpinned), closes every descriptor, removes its socket and exits. This waits until it has.'

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %>', description: 'Stop the default session.'},
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Stop a session, tearing down everything it holds.'

  async run(): Promise<SessionStopped> {
    const paths = sessionPaths(this.flags['session-dir'], this.flags.session)
    const pid = readPid(paths.pid)
    await this.request('stop')
    // Done when the daemon is: its socket no longer answers and its process has exited.
    for (let i = 0; i < 200 && ((await isAnswering(paths.socket)) || (pid !== null && isAlive(pid))); i++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    if (!this.jsonEnabled()) this.log(`session ${this.flags.session} stopped`)
    return {stopped: this.flags.session}
  }
}
