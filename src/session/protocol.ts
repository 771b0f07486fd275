// The session protocol: newline-delimited JSON over a Unix socket, one request per line and one
// response per request, matched by id. Its TypeScript shape is the source of
// schemas/session-request.json and schemas/session-response.json (scripts/schemas.js), and the
// daemon validates every request against the first before acting on it.
import type {EngineState, MappingRecord} from './engine.js'
import {HwptFlag, Iova, Name, PlanBdf, Size} from './plan.js'

export const PROTOCOL_VERSION = 1

/** The longest request line the daemon reads; a longer one is an error and closes the connection. */
export const MAX_LINE = 64 * 1024

/**
 * A reference to an IOAS or HWPT: its kernel id, or its name.
 * @pattern ^([0-9]{1,9}|[A-Za-z][A-Za-z0-9_.-]{0,63})$
 */
export type ObjectRef = string

/** Request ids are the client's own: echoed back unchanged. */
export type RequestId = string | number

interface Base {
  v: 1
  id: RequestId
}

export type SessionRequest = Base &
  (
    | {op: 'status'}
    | {op: 'stop'}
    | {op: 'create-ioas'; args: {name?: Name; allowIovas?: {start: Iova; last: Iova}[]; hugePages?: boolean}}
    | {
        op: 'map'
        args: {
          ioas: ObjectRef
          size: Size
          iova?: Iova
          name?: Name
          memory?: 'anonymous' | 'memfd' | 'hugetlbfs'
          readable?: boolean
          writable?: boolean
        }
      }
    | {op: 'unmap'; args: {ioas: ObjectRef; iova: Iova}}
    | {op: 'create-hwpt'; args: {ioas: ObjectRef; device: PlanBdf; name?: Name; flags?: HwptFlag[]}}
    | {
        op: 'attach'
        args: {
          device: PlanBdf
          to: ObjectRef
          /**
           * @minimum 1
           * @maximum 1048575
           */
          pasid?: number
        }
      }
    | {
        op: 'detach'
        args: {
          device: PlanBdf
          /**
           * @minimum 1
           * @maximum 1048575
           */
          pasid?: number
        }
      }
    | {op: 'destroy'; args: {id: ObjectRef}}
  )

export type RequestOp = SessionRequest['op']

/** The args of one op's request (undefined for status and stop). */
export type RequestArgs<O extends RequestOp> =
  Extract<SessionRequest, {op: O}> extends {args: infer A} ? A : undefined

export interface SessionError {
  /** @pattern ^[A-Z][A-Z0-9_]*$ */
  code: string
  message: string
  /** @pattern ^E[A-Z0-9]+$ */
  errno?: string
}

/** create-ioas, create-hwpt and attach answer with an object id (for attach, the page table in use). */
export interface IdResult {
  id: number
}

/** detach and destroy answer with this. */
export interface DoneResult {
  done: true
}

/** `iommuctl session start --json` */
export interface SessionStarted {
  name: string
  socket: string
  pid: number
}

/** `iommuctl session stop --json` */
export interface SessionStopped {
  stopped: string
}

/** What each op answers with. */
export type SessionResult = EngineState | IdResult | MappingRecord | {stopping: true} | DoneResult

export type SessionResponse =
  | {v: 1; id: RequestId | null; ok: true; result: SessionResult}
  | {v: 1; id: RequestId | null; ok: false; error: SessionError}
