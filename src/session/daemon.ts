import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'

import {errnoOf, ExitCode, IommuctlError} from '../errors.js'
import {parseSize} from '../model/units-of-measure.js'
import {Root} from '../sysfs/root.js'
import {Engine, explained} from './engine.js'
import {isAnswering} from './paths.js'
import {schemaValidators} from './schema.js'
import {
  MAX_LINE,
  PROTOCOL_VERSION,
  SessionError,
  SessionRequest,
  SessionResponse,
  SessionResult,
} from './protocol.js'

/** Checks requests against schemas/session-request.json: null, or what is wrong. */
async function requestValidator(): Promise<(data: unknown) => string | null> {
  const validate = (await schemaValidators('session-request')).compile()
  return (data) => {
    const e = validate(data)
    return e && `${e.instancePath || 'request'} ${e.message}`
  }
}

/**
 * The session daemon: owns one Engine (one iommufd) and answers requests on a root-only Unix
 * socket until `stop`, SIGINT or SIGTERM, then tears every object down and closes every descriptor.
 * Requests are handled one at a time, each whole before the next: a client that goes away
 * mid-request leaves the engine as that request left it, complete or not begun.
 */
export class Daemon {
  private readonly server: net.Server
  private engine!: Engine
  private validate!: (data: unknown) => string | null
  private stopped = false
  private readonly connections = new Set<net.Socket>()
  readonly served = {requests: 0, errors: 0}

  constructor(
    private readonly root: Root,
    private readonly paths: {socket: string; pid: string},
    private readonly maxPinned: bigint | null,
  ) {
    this.server = net.createServer((conn) => this.serve(conn))
  }

  /** Claims the name (a live session with it is an error; a dead one's socket is removed), then listens. */
  async start(): Promise<void> {
    const dir = path.dirname(this.paths.socket)
    fs.mkdirSync(dir, {recursive: true, mode: 0o700})
    if (await isAnswering(this.paths.socket)) {
      throw new IommuctlError('SESSION_EXISTS', `A session is already running on ${this.paths.socket}.`, {
        suggestion: 'Use it, stop it with `iommuctl session stop`, or start another with --name.',
      })
    }
    fs.rmSync(this.paths.socket, {force: true})
    this.validate = await requestValidator()
    this.engine = explained(() => new Engine(this.root, this.maxPinned))
    const old = process.umask(0o177)
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject)
        this.server.listen(this.paths.socket, () => resolve())
      })
    } catch (error) {
      this.engine.close()
      throw new IommuctlError(
        'SESSION_START',
        `Cannot listen on ${this.paths.socket}: ${(error as Error).message}`,
        {
          errno: errnoOf(error),
        },
      )
    } finally {
      process.umask(old)
    }
    fs.chmodSync(this.paths.socket, 0o600)
    fs.writeFileSync(this.paths.pid, `${process.pid}\n`, {mode: 0o600})
    process.once('SIGINT', () => this.stop())
    process.once('SIGTERM', () => this.stop())
  }

  /** Resolves when the daemon has stopped and torn everything down. */
  closed(): Promise<void> {
    return new Promise((resolve) => this.server.once('close', () => resolve()))
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.server.close()
    // An idle client must not keep the daemon alive: server.close waits for every connection.
    for (const conn of this.connections) conn.end()
    this.engine.close()
    fs.rmSync(this.paths.socket, {force: true})
    fs.rmSync(this.paths.pid, {force: true})
  }

  private serve(conn: net.Socket): void {
    let buffer = ''
    conn.setEncoding('utf8')
    conn.on('error', () => {})
    this.connections.add(conn)
    conn.on('close', () => this.connections.delete(conn))
    conn.on('data', (chunk: string) => {
      buffer += chunk
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0 || buffer.length > MAX_LINE) {
        // A line longer than MAX_LINE, whole or not yet, is refused and its connection closed.
        if (nl < 0 || nl > MAX_LINE) {
          this.reply(
            conn,
            failure(null, {code: 'TOO_LONG', message: `a request line is at most ${MAX_LINE} bytes`}),
          )
          conn.end()
          buffer = ''
          return
        }
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        if (line.trim()) this.reply(conn, this.handle(line))
        if (this.stopped) {
          conn.end()
          return
        }
      }
    })
  }

  private reply(conn: net.Socket, response: SessionResponse): void {
    if (!response.ok) this.served.errors++
    if (!conn.destroyed) conn.write(JSON.stringify(response) + '\n')
  }

  /** One request line in, one response out; never throws. */
  handle(line: string): SessionResponse {
    this.served.requests++
    let data: unknown
    try {
      data = JSON.parse(line)
    } catch (error) {
      return failure(null, {code: 'BAD_JSON', message: `not JSON: ${(error as Error).message}`})
    }
    const id = idOf(data)
    const problem = this.validate(data)
    if (problem) {
      const v = (data as {v?: unknown})?.v
      const message =
        v !== undefined && v !== PROTOCOL_VERSION
          ? `protocol version ${JSON.stringify(v)} is not ${PROTOCOL_VERSION}`
          : problem
      return failure(id, {code: 'BAD_REQUEST', message})
    }
    try {
      return {v: 1, id, ok: true, result: this.run(data as SessionRequest)}
    } catch (error) {
      const e = error as IommuctlError
      return failure(id, {
        code: typeof e.code === 'string' ? e.code : 'FAILED',
        message: e.message ?? String(error),
        ...(e.errno ? {errno: e.errno} : {}),
      })
    }
  }

  private run(req: SessionRequest): SessionResult {
    const e = this.engine
    switch (req.op) {
      case 'status':
        return e.state()
      case 'stop':
        setImmediate(() => this.stop())
        return {stopping: true}
      case 'create-ioas': {
        const ranges = req.args.allowIovas?.map((r) => ({start: BigInt(r.start), last: BigInt(r.last)}))
        if (ranges?.some((r) => r.start > r.last))
          throw badArgs('allowIovas: a range starts after its last address')
        return {
          id: explained(() => e.createIoas(req.args.name ?? null, ranges, {hugePages: req.args.hugePages})),
        }
      }
      case 'map': {
        const size = parseSize(req.args.size)
        const page = req.args.memory === 'hugetlbfs' ? 2n << 20n : 4096n
        if (size === 0n || size % page)
          throw badArgs(`size ${req.args.size} is not a multiple of the page size (${page})`)
        if (req.args.iova !== undefined && BigInt(req.args.iova) % 4096n)
          throw badArgs(`iova ${req.args.iova} is not page aligned`)
        if (req.args.readable === false && req.args.writable === false)
          throw badArgs('a map must be readable or writable')
        return explained(() => e.map(req.args.ioas, {...req.args, name: req.args.name ?? null, size}))
      }
      case 'unmap':
        return explained(() => e.unmap(req.args.ioas, req.args.iova))
      case 'create-hwpt':
        return {
          id: explained(() =>
            e.createHwpt(req.args.name ?? null, req.args.ioas, req.args.device, req.args.flags),
          ),
        }
      case 'attach':
        return {id: explained(() => e.attach(req.args.device, req.args.to, req.args.pasid))}
      case 'detach':
        explained(() => e.detach(req.args.device, req.args.pasid))
        return {done: true}
      case 'destroy':
        explained(() => e.destroy(req.args.id))
        return {done: true}
    }
  }
}

function badArgs(message: string): IommuctlError {
  return new IommuctlError('BAD_REQUEST', message, {exit: ExitCode.usage})
}

function failure(id: SessionResponse['id'], error: SessionError): SessionResponse {
  return {v: 1, id, ok: false, error}
}

function idOf(data: unknown): SessionResponse['id'] {
  const id = (data as {id?: unknown} | null)?.id
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null
}
