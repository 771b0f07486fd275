// Where `faults` reads the kernel log from: the live /dev/kmsg, the root's copy of it, a saved
// file, or stdin (only when told to with `-`). Every line is bounded (MAX_LOG_LINE) and decoded
// as strict UTF-8 by the session's LineReader; the records and groups are bounded by the
// collector.
import * as fs from 'node:fs'

import {ExitCode, IommuctlError, errnoOf} from '../errors.js'
import {LineReader} from '../session/lines.js'
import {KMSG, KmsgReader} from '../sysfs/kmsg.js'
import {Root} from '../sysfs/root.js'
import {FaultCollector, FaultOptions, FaultsReport} from './faults.js'

/** Longer than any kernel message (LOG_LINE_MAX is 1024 - 32) with any prefix a log adds. */
export const MAX_LOG_LINE = 64 * 1024
const CHUNK = 1024 * 1024
/** How often --follow looks for new records in /dev/kmsg. */
const FOLLOW_POLL_MS = 250

export interface FaultLogOptions extends FaultOptions {
  /** A saved log: a file name, or '-' for stdin. Unset: the root's kernel log. */
  log?: string
  /** Keep reading new records until stop() says so (live /dev/kmsg and stdin only). */
  follow?: boolean
  stop?: () => boolean
}

/** Feeds bytes to a collector as lines: a line over MAX_LOG_LINE ends the read with an error. */
class LineFeeder {
  private readonly reader = new LineReader(MAX_LOG_LINE)
  private lastByte = 0x0a

  constructor(
    private readonly collector: FaultCollector,
    private readonly what: string,
  ) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.lastByte = chunk[chunk.length - 1]!
    for (const event of this.reader.push(chunk)) {
      if ('line' in event) this.collector.push(event.line)
      else if (event.refused === 'NOT_UTF8') this.collector.skipNotText()
      else
        throw new IommuctlError(
          'LOG_LINE_TOO_LONG',
          `${this.what} has a line longer than ${MAX_LOG_LINE} bytes: not a kernel log.`,
          {
            suggestion:
              'Pass the output of `dmesg` or `journalctl -k`, or a snapshot taken by `iommuctl snapshot`.',
          },
        )
    }
  }

  end(): void {
    if (this.lastByte !== 0x0a) this.push(Buffer.from('\n'))
  }
}

/** Reads the log the options name and returns what it holds, decoded and attributed to the root's devices. */
export async function readFaultLog(root: Root, o: FaultLogOptions): Promise<FaultsReport> {
  if (o.log === '-') return readStdin(root, o)
  if (o.log !== undefined) {
    if (o.follow) throw followRefused('a saved log file')
    return readFile(root, o.log, o)
  }
  if (root.isLive) return readKmsg(root, o)
  if (o.follow) throw followRefused('a snapshot')
  const bytes = root.readBytes(KMSG)
  if (bytes === null) {
    throw new IommuctlError('NO_KERNEL_LOG', `This root has no kernel log (${KMSG}).`, {
      exit: ExitCode.unavailable,
      path: KMSG,
      suggestion:
        'Snapshots taken by iommuctl before `faults` existed have none: take a new one, or pass a saved `dmesg` with --log.',
    })
  }
  const collector = new FaultCollector(root, {kind: 'snapshot', path: KMSG}, o)
  const feeder = new LineFeeder(collector, `the snapshot's ${KMSG}`)
  feeder.push(bytes)
  feeder.end()
  return collector.end()
}

function followRefused(what: string): IommuctlError {
  return new IommuctlError('USAGE', `--follow reads a live kernel log; ${what} does not grow.`, {
    exit: ExitCode.usage,
    suggestion: 'Use --follow on the live host (no --root), or pipe a growing log in with `--log -`.',
  })
}

function readFile(root: Root, file: string, o: FaultLogOptions): FaultsReport {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  } catch (error) {
    throw new IommuctlError('LOG_UNREADABLE', `Cannot open the log ${file}: ${(error as Error).message}`, {
      errno: errnoOf(error),
      path: file,
    })
  }
  try {
    if (!fs.fstatSync(fd).isFile()) {
      throw new IommuctlError('LOG_NOT_A_FILE', `${file} is not a regular file.`, {
        exit: ExitCode.usage,
        path: file,
        suggestion: 'Pipe a stream in with `--log -` instead.',
      })
    }
    const collector = new FaultCollector(root, {kind: 'file', path: file}, o)
    const feeder = new LineFeeder(collector, file)
    const buffer = Buffer.alloc(CHUNK)
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, CHUNK, null)
      if (n === 0) break
      // LineReader keeps subarrays of what it is given for a partial line: give it a copy.
      feeder.push(Buffer.from(buffer.subarray(0, n)))
    }
    feeder.end()
    return collector.end()
  } finally {
    fs.closeSync(fd)
  }
}

async function readStdin(root: Root, o: FaultLogOptions): Promise<FaultsReport> {
  const collector = new FaultCollector(root, {kind: 'stdin', path: null}, o)
  const feeder = new LineFeeder(collector, 'stdin')
  try {
    for await (const chunk of process.stdin) {
      feeder.push(chunk as Buffer)
      if (o.stop?.()) break
    }
  } catch (error) {
    // --follow's SIGINT destroys stdin to stop the wait for its next chunk: the stream then ends
    // "prematurely", which is the stop asked for, not a failure.
    if (!o.stop?.()) throw error
  }
  feeder.end()
  return collector.end()
}

async function readKmsg(root: Root, o: FaultLogOptions): Promise<FaultsReport> {
  const collector = new FaultCollector(root, {kind: 'kmsg', path: KMSG}, o)
  const reader = new KmsgReader()
  try {
    for (;;) {
      const records = reader.readAvailable(4096)
      for (const record of records) {
        for (const line of record.split('\n')) if (line) collector.push(line)
      }
      if (records.length) continue
      if (!o.follow || o.stop?.()) break
      await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS))
      if (o.stop?.()) break
    }
  } finally {
    reader.close()
  }
  return collector.end()
}
