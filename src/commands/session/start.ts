import {Flags} from '@oclif/core'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'

import {BaseCommand} from '../../base-command.js'
import {IommuctlError} from '../../errors.js'
import {sizeArgument} from '../../model/units-of-measure.js'
import {Daemon} from '../../session/daemon.js'
import {ensureSessionDir, isAnswering, openSessionFile, sessionPaths} from '../../session/paths.js'
import {memlockLimit} from '../../session/engine.js'
import {SessionStarted} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

// Not a SessionCommand: it is the session, not a client of one (its --timeout is another thing).
export default class SessionStart extends BaseCommand<typeof SessionStart> {
  static description = `The daemon owns one iommufd (/dev/iommu) and answers newline-delimited JSON requests on a root-only Unix socket, SESSION_DIR/NAME.sock (default /run/iommuctl/sessions/default.sock): the \`domains\` and \`pasid\` commands are its clients. Objects live as long as the daemon. It refuses to pin more memory than --max-pinned (default: its RLIMIT_MEMLOCK). On \`session stop\`, SIGINT or SIGTERM it tears down every object and closes every descriptor.

Without --foreground it starts itself in the background and returns once the socket answers; its log is SESSION_DIR/NAME.log. SESSION_DIR is created 0700; one that is not the user's own, or that others can write, is refused, and the log and pid file are never opened through a symlink. --foreground is for systemd (see contrib/iommuctl-session@.service). A second session with a name that is running is refused.`

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %>', description: 'Start the default session.'},
    {
      command: 'sudo <%= config.bin %> <%= command.id %> --name vm0 --max-pinned 8G',
      description: 'A named session that pins at most 8 GiB.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> --foreground',
      description: 'In the foreground, as systemd runs it.',
    },
  ]

  static flags = {
    session: SessionCommand.sessionFlags.session,
    'session-dir': SessionCommand.sessionFlags['session-dir'],
    name: Flags.string({default: 'default', summary: 'Session name: one socket, one iommufd.'}),
    foreground: Flags.boolean({summary: 'Stay in the foreground (for systemd).'}),
    timeout: Flags.integer({
      default: 30,
      min: 1,
      summary: 'Seconds to wait for the daemon started in the background to listen.',
      helpValue: 'SECONDS',
    }),
    'max-pinned': Flags.string({
      summary: 'Refuse maps past this many bytes (or with K, M, G, T: 8G, 512MiB); default RLIMIT_MEMLOCK.',
    }),
  }

  static summary = 'Start a session daemon that holds iommufd objects for the domains and pasid commands.'

  async run(): Promise<SessionStarted> {
    const {name, foreground} = this.flags
    const dir = this.flags['session-dir']
    const paths = sessionPaths(dir, name)
    const maxPinned =
      this.flags['max-pinned'] !== undefined
        ? sizeArgument('--max-pinned', this.flags['max-pinned'])
        : memlockLimit()
    if (foreground) {
      const daemon = new Daemon(this.root, paths, maxPinned)
      await daemon.start()
      this.log(`session ${name} listening on ${paths.socket} (pid ${process.pid})`)
      await daemon.closed()
      return {name, socket: paths.socket, pid: process.pid}
    }
    if (await isAnswering(paths.socket)) {
      throw new IommuctlError('SESSION_EXISTS', `A session is already running on ${paths.socket}.`, {
        suggestion: 'Use it, stop it with `iommuctl session stop`, or start another with --name.',
      })
    }
    ensureSessionDir(dir)
    const log = openSessionFile(paths.log, 'append')
    const args = [
      process.argv[1]!,
      'session',
      'start',
      '--foreground',
      '--name',
      name,
      '--session-dir',
      dir,
      '--root',
      this.flags.root,
    ]
    if (this.flags['max-pinned'] !== undefined) args.push('--max-pinned', this.flags['max-pinned'])
    const child = spawn(process.execPath, args, {detached: true, stdio: ['ignore', log, log]})
    fs.closeSync(log)
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)))
    child.unref()
    const deadline = Date.now() + this.flags.timeout * 1000
    while (Date.now() < deadline) {
      if (await isAnswering(paths.socket)) {
        const result = {name, socket: paths.socket, pid: child.pid!}
        if (!this.jsonEnabled()) this.log(`session ${name} started (pid ${child.pid}) on ${paths.socket}`)
        return result
      }
      const done = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 50))])
      if (done !== null) {
        const tail = fs.readFileSync(paths.log, 'utf8').trim().split('\n').slice(-4).join('\n')
        throw new IommuctlError(
          'SESSION_START',
          `The session daemon exited (${done}) before it listened:\n${tail}`,
          {
            path: paths.log,
          },
        )
      }
    }
    throw new IommuctlError(
      'SESSION_START',
      `The session daemon did not answer on ${paths.socket} within ${this.flags.timeout} s.`,
      {path: paths.log, suggestion: 'See its log; on a slow host, give it longer with --timeout.'},
    )
  }
}
