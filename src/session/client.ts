import * as net from 'node:net'

import {errnoOf, ExitCode, fromRecord, IommuctlError} from '../errors.js'
import {sessionPaths} from './paths.js'
import {
  MAX_REPLY,
  PROTOCOL_VERSION,
  RequestArgs,
  RequestOp,
  SessionResponse,
  SessionResult,
} from './protocol.js'

export interface Timeouts {
  /** Milliseconds to wait for the socket to accept the connection. */
  connectMs: number
  /** Milliseconds to wait for the whole reply once the request is sent. */
  replyMs: number
}

/**
 * Sends one request to a session and returns its result. A refusal is thrown as the daemon's own
 * error record (its code and exit code); a daemon that does not answer within the timeouts, or
 * answers with more than MAX_REPLY bytes or with something that is not a response, is an error
 * that says so.
 */
export async function request<O extends RequestOp>(
  dir: string,
  name: string,
  op: O,
  args: RequestArgs<O> | undefined,
  timeouts: Timeouts,
): Promise<SessionResult> {
  const {socket} = sessionPaths(dir, name)
  const line = JSON.stringify({v: PROTOCOL_VERSION, id: 1, op, ...(args === undefined ? {} : {args})}) + '\n'
  const failed = (code: string, what: string, suggestion: string) =>
    new IommuctlError(code, `Session ${name} (${socket}) ${what}.`, {path: socket, suggestion})
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const conn = net.connect(socket)
    const chunks: Buffer[] = []
    let bytes = 0
    const finish = (error: Error | null, result?: Buffer) => {
      clearTimeout(timer)
      conn.destroy()
      if (error) reject(error)
      else resolve(result!)
    }
    let timer = setTimeout(
      () =>
        finish(
          failed(
            'SESSION_TIMEOUT',
            `did not accept the connection within ${timeouts.connectMs / 1000} s`,
            'It may be overloaded or stuck: try again with a longer --connect-timeout, or restart it (session stop, session start).',
          ),
        ),
      timeouts.connectMs,
    )
    conn.once('connect', () => {
      clearTimeout(timer)
      timer = setTimeout(
        () =>
          finish(
            failed(
              'SESSION_TIMEOUT',
              `did not answer ${op} within ${timeouts.replyMs / 1000} s`,
              'It may be busy with a long request or stuck: try again with a longer --timeout, or restart it (session stop, session start).',
            ),
          ),
        timeouts.replyMs,
      )
      conn.write(line)
    })
    conn.on('data', (chunk: Buffer) => {
      const nl = chunk.indexOf(0x0a)
      const take = nl < 0 ? chunk : chunk.subarray(0, nl)
      bytes += take.length
      if (bytes > MAX_REPLY) {
        finish(
          failed(
            'BAD_REPLY',
            `answered with more than ${MAX_REPLY} bytes and no end of line`,
            'It is not an iommuctl session, or a broken one: restart it (session stop, session start).',
          ),
        )
        return
      }
      chunks.push(take)
      if (nl >= 0) finish(null, Buffer.concat(chunks))
    })
    conn.once('error', (error) => finish(noSession(name, socket, error)))
    conn.once('end', () =>
      finish(
        failed(
          'SESSION_GONE',
          'closed the connection without answering',
          'See its log (SESSION_DIR/NAME.log), and start it again if it has exited.',
        ),
      ),
    )
  })
  const response = parseResponse(reply)
  if (!response) {
    throw failed(
      'BAD_REPLY',
      'answered with something that is not a session response (not UTF-8 JSON with ok and a result or error)',
      'It is not an iommuctl session, or one of another version: restart it (session stop, session start).',
    )
  }
  if (!response.ok) throw fromRecord(response.error)
  return response.result
}

/** A response line, decoded and checked for the shape the client relies on; null when it is not one. */
function parseResponse(line: Buffer): SessionResponse | null {
  let data: unknown
  try {
    data = JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(line))
  } catch {
    return null
  }
  const r = data as Partial<{ok: unknown; result: unknown; error: Record<string, unknown>}> | null
  if (typeof r !== 'object' || r === null) return null
  if (r.ok === true && typeof r.result === 'object' && r.result !== null) return data as SessionResponse
  const e = r.error
  const valid =
    r.ok === false &&
    typeof e === 'object' &&
    e !== null &&
    typeof e.code === 'string' &&
    /^[A-Z][A-Z0-9_]*$/.test(e.code) &&
    typeof e.message === 'string' &&
    (e.exitCode === undefined || e.exitCode === 1 || e.exitCode === 2 || e.exitCode === 3)
  if (!valid) return null
  // A daemon from before the exit code crossed the socket: its refusals are failures.
  return {
    ...(data as SessionResponse & {ok: false}),
    error: {exitCode: ExitCode.failure, ...(e as object)},
  } as SessionResponse
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
