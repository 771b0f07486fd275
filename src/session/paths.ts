import * as net from 'node:net'
import * as path from 'node:path'

import {ExitCode, IommuctlError} from '../errors.js'

export const DEFAULT_SESSION_DIR = '/run/iommuctl/sessions'
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export function sessionPaths(dir: string, name: string): {socket: string; pid: string} {
  if (!NAME.test(name)) {
    throw new IommuctlError('BAD_NAME', `${JSON.stringify(name)} is not a session name.`, {
      exit: ExitCode.usage,
      suggestion: 'Letters, digits, _ . and -, starting with a letter or digit.',
    })
  }
  return {socket: path.join(dir, `${name}.sock`), pid: path.join(dir, `${name}.pid`)}
}

/** Whether something answers on the socket (a live session), as opposed to a stale file or nothing. */
export function isAnswering(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket)
    c.once('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.once('error', () => resolve(false))
  })
}
