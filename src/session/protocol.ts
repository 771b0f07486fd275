// The session protocol: newline-delimited JSON over a Unix socket, one request per line and one
// response per request, matched by id. Its TypeScript shape is the source of
// schemas/session-request.json and schemas/session-response.json (scripts/schemas.js), and the
// daemon validates every request against the first before acting on it.
import type {ErrorRecord} from '../errors.js'
import type {PageResponse} from '../iommufd/events.js'
import type {EngineState, EventRecord, FaultRecord, InvalidateResult, MappingRecord} from './engine.js'
import {
  HexBytes,
  HwptDataType,
  HwptFlag,
  InvalidateDataType,
  Iova,
  Name,
  PlanBdf,
  Size,
  VeventqType,
  ViommuType,
  VirtId,
} from './plan.js'

export const PROTOCOL_VERSION = 1

/** The longest request line the daemon reads, in bytes; a longer one is an error and closes the connection. */
export const MAX_LINE = 64 * 1024

/** The longest response line a client reads, in bytes (a status of thousands of objects fits). */
export const MAX_REPLY = 16 << 20

/**
 * A reference to an IOAS or HWPT: its kernel id, or its name.
 * @pattern ^([0-9]{1,9}|[A-Za-z][A-Za-z0-9_.-]{0,63})$
 */
export type ObjectRef = string

/**
 * A mapping: the IOVA it starts at ("0x..."), or its name.
 * @pattern ^(0x[0-9a-fA-F]{1,16}|[A-Za-z][A-Za-z0-9_.-]{0,63})$
 */
export type MappingRef = string

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
    | {op: 'unmap'; args: {ioas: ObjectRef; iova: MappingRef}}
    | {
        op: 'create-hwpt'
        args: {
          /** A paging HWPT's IOAS. */
          ioas?: ObjectRef
          /** A nested HWPT's nest-parent HWPT or vIOMMU (with dataType and data). */
          parent?: ObjectRef
          device: PlanBdf
          name?: Name
          flags?: HwptFlag[]
          dataType?: HwptDataType
          data?: HexBytes
          /** A fault queue of the session that the HWPT's page requests go to. */
          faultQueue?: ObjectRef
        }
      }
    | {op: 'create-viommu'; args: {hwpt: ObjectRef; device: PlanBdf; type: ViommuType; name?: Name}}
    | {op: 'create-vdevice'; args: {viommu: ObjectRef; device: PlanBdf; virtId: VirtId; name?: Name}}
    | {op: 'create-fault-queue'; args: {name?: Name}}
    | {
        op: 'create-veventq'
        args: {
          viommu: ObjectRef
          type: VeventqType
          /**
           * @asType integer
           * @minimum 1
           * @maximum 524288
           */
          depth?: number
          name?: Name
        }
      }
    | {
        op: 'read-faults'
        args: {
          queue: ObjectRef
          /**
           * The most page requests to read (default 64).
           * @asType integer
           * @minimum 1
           * @maximum 1024
           */
          max?: number
          /** Answer each group read, as it is read. */
          respond?: PageResponse
        }
      }
    | {
        op: 'respond-fault'
        args: {
          queue: ObjectRef
          /**
           * @asType integer
           * @minimum 0
           * @maximum 4294967295
           */
          cookie: number
          response: PageResponse
        }
      }
    | {
        op: 'read-events'
        args: {
          queue: ObjectRef
          /**
           * The most events to read (default 64).
           * @asType integer
           * @minimum 1
           * @maximum 1024
           */
          max?: number
        }
      }
    | {op: 'invalidate'; args: {id: ObjectRef; dataType: InvalidateDataType; entries: HexBytes | ''}}
    | {
        op: 'attach'
        args: {
          device: PlanBdf
          to: ObjectRef
          /**
           * @asType integer
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
           * @asType integer
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

/**
 * A refusal carries the whole error record, so a client fails as the daemon did: the same code,
 * exit code, errno, path and suggestion.
 */
export type SessionError = ErrorRecord

/** create-ioas, create-hwpt and attach answer with an object id (for attach, the page table in use). */
export interface IdResult {
  id: number
}

/** read-faults answers with the page requests read (none waiting: an empty list). */
export interface FaultsResult {
  faults: FaultRecord[]
}

/** read-events answers with the events read (none waiting: an empty list). */
export interface EventsResult {
  events: EventRecord[]
}

/** detach, destroy and respond-fault answer with this. */
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
export type SessionResult =
  | EngineState
  | IdResult
  | MappingRecord
  | InvalidateResult
  | FaultsResult
  | EventsResult
  | {stopping: true}
  | DoneResult

export type SessionResponse =
  | {v: 1; id: RequestId | null; ok: true; result: SessionResult}
  | {v: 1; id: RequestId | null; ok: false; error: SessionError}
