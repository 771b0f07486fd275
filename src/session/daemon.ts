import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'

import {errnoOf, errorRecord, ExitCode, IommuctlError} from '../errors.js'
import {MAX_U64, parseSize} from '../model/units-of-measure.js'
import {schemaProblem, schemaValidators} from '../schema.js'
import {Root} from '../sysfs/root.js'
import {Engine, explained} from './engine.js'
import {hostKernel} from './kernel.js'
import {DEFAULT_VEVENTQ_DEPTH, hexBytes} from './nesting.js'
import {serveLines} from './lines.js'
import {ensureSessionDir, isAnswering, openSessionFile} from './paths.js'
import {
  MAX_LINE,
  PROTOCOL_VERSION,
  SessionError,
  SessionRequest,
  SessionResponse,
  SessionResult,
} from './protocol.js'

/**
 * Checks requests against schemas/session-request.json, each against its own op's part of the
 * union (so that the error is about that op's fields): null, or what is wrong, naming the field
 * (map.args.size: must match pattern ...).
 */
export async function requestValidator(): Promise<(data: unknown) => string | null> {
  const byOp = schemaValidators('session-request').parts
  return (data) => {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'request: must be an object'
    const {v, op} = data as {v?: unknown; op?: unknown}
    if (v !== PROTOCOL_VERSION) return `v: protocol version ${JSON.stringify(v)} is not ${PROTOCOL_VERSION}`
    const validate = typeof op === 'string' ? byOp.get(op) : undefined
    if (!validate) return `op: ${JSON.stringify(op)} is not one of ${[...byOp.keys()].join(', ')}`
    const e = validate(data)
    if (!e) return null
    const {where, message} = schemaProblem(e, op as string)
    return `${where}: ${message}`
  }
}

/** How long a connection may stay silent, mid-line or between requests, before it is closed. */
export const IDLE_MS = 60_000
/** Clients connected at once; the server closes any more at once (they read SESSION_GONE). */
const MAX_CONNECTIONS = 128

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
    private readonly idleMs = IDLE_MS,
  ) {
    this.server = net.createServer((conn) => this.serve(conn))
    this.server.maxConnections = MAX_CONNECTIONS
  }

  /** Claims the name (a live session with it is an error; a dead one's socket is removed), then listens. */
  async start(): Promise<void> {
    ensureSessionDir(path.dirname(this.paths.socket))
    if (await isAnswering(this.paths.socket)) {
      throw new IommuctlError('SESSION_EXISTS', `A session is already running on ${this.paths.socket}.`, {
        suggestion: 'Use it, stop it with `iommuctl session stop`, or start another with --name.',
      })
    }
    fs.rmSync(this.paths.socket, {force: true})
    this.validate = await requestValidator()
    this.engine = explained(() => new Engine(hostKernel(this.root), this.maxPinned))
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
    const pid = openSessionFile(this.paths.pid, 'replace')
    try {
      fs.writeSync(pid, `${process.pid}\n`)
    } finally {
      fs.closeSync(pid)
    }
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
    this.connections.add(conn)
    conn.on('close', () => this.connections.delete(conn))
    serveLines(conn, {
      maxLine: MAX_LINE,
      idleMs: this.idleMs,
      answer: (line) => this.counted(this.handle(line)),
      refusal: (code, message) => this.counted(failure(null, usage(code, message))),
      closing: () => this.stopped,
    })
  }

  private counted(response: SessionResponse): SessionResponse {
    if (!response.ok) this.served.errors++
    return response
  }

  /** One request line in, one response out; never throws. */
  handle(line: string): SessionResponse {
    this.served.requests++
    let data: unknown
    try {
      data = JSON.parse(line)
    } catch (error) {
      return failure(null, usage('BAD_JSON', `not JSON: ${(error as Error).message}`))
    }
    const id = idOf(data)
    const problem = this.validate(data)
    if (problem) return failure(id, usage('BAD_REQUEST', problem))
    try {
      return {v: 1, id, ok: true, result: this.run(data as SessionRequest)}
    } catch (error) {
      return failure(id, errorRecord(error))
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
        let size: bigint
        try {
          size = parseSize(req.args.size)
        } catch (error) {
          throw badArgs(`map.args.size: ${(error as Error).message}`)
        }
        const page = req.args.memory === 'hugetlbfs' ? 2n << 20n : 4096n
        if (size === 0n || size % page)
          throw badArgs(`size ${req.args.size} is not a multiple of the page size (${page})`)
        const iova = req.args.iova === undefined ? undefined : BigInt(req.args.iova)
        if (iova !== undefined && iova % 4096n) throw badArgs(`iova ${req.args.iova} is not page aligned`)
        if (iova !== undefined && iova + size - 1n > MAX_U64)
          throw badArgs(`[${req.args.iova}, +${req.args.size}) runs past the end of the 64-bit IOVA space`)
        if (req.args.readable === false && req.args.writable === false)
          throw badArgs('a map must be readable or writable')
        return explained(() => e.map(req.args.ioas, {...req.args, name: req.args.name ?? null, size}))
      }
      case 'unmap':
        return explained(() => e.unmap(req.args.ioas, req.args.iova))
      case 'create-hwpt': {
        const a = req.args
        if ((a.ioas === undefined) === (a.parent === undefined))
          throw badArgs('create-hwpt: give ioas (a paging HWPT) or parent (a nested one)')
        if ((a.parent !== undefined) !== (a.dataType !== undefined && a.data !== undefined))
          throw badArgs(
            'create-hwpt: a nested HWPT (parent) needs dataType and data; a paging one takes neither',
          )
        const nested =
          a.parent === undefined ? undefined : {type: a.dataType!, data: hexBytes('data', a.data!)}
        return {
          id: explained(() =>
            e.createHwpt(a.name ?? null, a.parent ?? a.ioas!, a.device, a.flags, nested, a.faultQueue),
          ),
        }
      }
      case 'create-viommu':
        return {
          id: explained(() =>
            e.createViommu(req.args.name ?? null, req.args.hwpt, req.args.device, req.args.type),
          ),
        }
      case 'create-vdevice':
        return {
          id: explained(() =>
            e.createVdevice(req.args.name ?? null, req.args.viommu, req.args.device, BigInt(req.args.virtId)),
          ),
        }
      case 'create-fault-queue':
        return {id: explained(() => e.createFaultQueue(req.args.name ?? null))}
      case 'create-veventq': {
        const a = req.args
        return {
          id: explained(() =>
            e.createVeventq(a.name ?? null, a.viommu, a.type, a.depth ?? DEFAULT_VEVENTQ_DEPTH),
          ),
        }
      }
      case 'read-faults':
        return {faults: explained(() => e.readFaults(req.args.queue, req.args.max, req.args.respond))}
      case 'respond-fault':
        explained(() => e.respondFault(req.args.queue, req.args.cookie, req.args.response))
        return {done: true}
      case 'read-events':
        return {events: explained(() => e.readEvents(req.args.queue, req.args.max))}
      case 'invalidate': {
        const entries = req.args.entries === '' ? Buffer.alloc(0) : hexBytes('entries', req.args.entries)
        return explained(() => e.invalidate(req.args.id, req.args.dataType, entries))
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

/** A request the daemon cannot act on: the client's (its user's) mistake, exit 2 there. */
function usage(code: string, message: string): SessionError {
  return {code, message, exitCode: ExitCode.usage}
}

function failure(id: SessionResponse['id'], error: SessionError): SessionResponse {
  return {v: 1, id, ok: false, error}
}

function idOf(data: unknown): SessionResponse['id'] {
  const id = (data as {id?: unknown} | null)?.id
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null
}
