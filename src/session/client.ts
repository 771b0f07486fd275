import * as net from 'node:net'

import {errnoOf, ExitCode, IommuctlError} from '../errors.js'
import {sessionPaths} from './paths.js'
import {PROTOCOL_VERSION, RequestArgs, RequestOp, SessionResponse, SessionResult} from './protocol.js'

/** Sends one request to a session and returns its result; a refusal becomes the error a user reads. */
export async function request<O extends RequestOp>(
  dir: string,
  name: string,
  op: O,
  args?: RequestArgs<O>,
): Promise<SessionResult> {
  const {socket} = sessionPaths(dir, name)
  const line = JSON.stringify({v: PROTOCOL_VERSION, id: 1, op, ...(args === undefined ? {} : {args})}) + '\n'
  const response = await new Promise<SessionResponse>((resolve, reject) => {
    const conn = net.connect(socket)
    let buffer = ''
    conn.setEncoding('utf8')
    conn.once('connect', () => conn.write(line))
    conn.on('data', (chunk: string) => {
      buffer += chunk
      const nl = buffer.indexOf('\n')
      if (nl < 0) return
      conn.end()
      try {
        resolve(JSON.parse(buffer.slice(0, nl)) as SessionResponse)
      } catch (error) {
        reject(error)
      }
    })
    conn.once('error', (error) => reject(noSession(name, socket, error)))
    conn.once('end', () =>
      reject(new IommuctlError('SESSION_GONE', `Session ${name} closed the connection without answering.`)),
    )
  })
  if (!response.ok) {
    throw new IommuctlError(response.error.code, response.error.message, {errno: response.error.errno})
  }
  return response.result
}

function noSession(name: string, socket: string, error: unknown): IommuctlError {
  const errno = errnoOf(error)
  if (errno === 'EACCES') {
    return new IommuctlError('PERMISSION', `Cannot connect to session ${name}: ${socket} is root's.`, {
      errno,
      path: socket,
      suggestion: 'Run it with sudo.',
    })
  }
  return new IommuctlError(
    'NO_SESSION',
    `No session ${name} is running (${socket}: ${errno ?? (error as Error).message}).`,
    {
      errno,
      path: socket,
      exit: ExitCode.failure,
      suggestion: `Start one with \`sudo iommuctl session start${name === 'default' ? '' : ` --name ${name}`}\`.`,
    },
  )
}
