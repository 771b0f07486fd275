// The kernel log as /dev/kmsg gives it (Documentation/ABI/testing/dev-kmsg): each read() returns
// one record, "PRI,SEQ,USEC,FLAGS;message\n" with " KEY=value\n" lines after it; EAGAIN when
// opened O_NONBLOCK and no record is left; EPIPE when the record about to be read was overwritten
// (the next read goes on from the oldest one left). A snapshot keeps the same text as a regular
// file at the same path, read through the root's reader like every other file.
import * as fs from 'node:fs'

import {errnoOf, IommuctlError} from '../errors.js'

export const KMSG = '/dev/kmsg'
/**
 * How much of the log a snapshot keeps: the newest records that fit, under the root reader's
 * cap for a file it has no rule for (1 MiB).
 */
export const KMSG_SNAPSHOT_BYTES = 1024 * 1024 - 4096
/** A record is at most LOG_LINE_MAX (1024 - 32) of text plus its dictionary: 16 KiB is ample. */
const RECORD_BUFFER = 16 * 1024

/** A live host's /dev/kmsg, opened to read the records already there and then, if asked, new ones. */
export class KmsgReader {
  private readonly fd: number
  private readonly buffer = Buffer.alloc(RECORD_BUFFER)

  constructor(path = KMSG) {
    try {
      this.fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
    } catch (error) {
      throw kmsgError(error, path)
    }
  }

  /** The records that are there now, each as its lines; [] when none is left. */
  readAvailable(max = Number.POSITIVE_INFINITY): string[] {
    const out: string[] = []
    while (out.length < max) {
      let n: number
      try {
        n = fs.readSync(this.fd, this.buffer, 0, this.buffer.length, null)
      } catch (error) {
        const errno = errnoOf(error)
        if (errno === 'EAGAIN') break
        // The ring buffer went past this record: go on from the oldest one still there.
        if (errno === 'EPIPE') continue
        throw kmsgError(error, KMSG)
      }
      if (n === 0) break
      out.push(this.buffer.toString('utf8', 0, n))
    }
    return out
  }

  close(): void {
    fs.closeSync(this.fd)
  }
}

function kmsgError(error: unknown, path: string): IommuctlError {
  const errno = errnoOf(error)
  if (errno === 'EACCES' || errno === 'EPERM') {
    return new IommuctlError('KERNEL_LOG_DENIED', `Cannot read the kernel log (${path}): ${errno}.`, {
      errno,
      path,
      suggestion:
        'Reading it needs CAP_SYSLOG when kernel.dmesg_restrict is 1: run as root, or save it with `sudo dmesg > log.txt` and pass --log log.txt.',
    })
  }
  return new IommuctlError(
    'KERNEL_LOG_UNREADABLE',
    `Cannot read the kernel log (${path}): ${String(error)}`,
    {
      errno,
      path,
    },
  )
}

/**
 * The newest records of a live host's log that fit in maxBytes, as kmsg text: what `snapshot`
 * keeps. Throws an IommuctlError when the log cannot be read.
 */
export function captureKmsg(maxBytes = KMSG_SNAPSHOT_BYTES): Buffer {
  const reader = new KmsgReader()
  try {
    const kept: Buffer[] = []
    let size = 0
    for (;;) {
      const batch = reader.readAvailable(4096)
      if (batch.length === 0) break
      for (const record of batch) {
        const b = Buffer.from(record.endsWith('\n') ? record : `${record}\n`)
        kept.push(b)
        size += b.length
        while (size > maxBytes && kept.length) size -= kept.shift()!.length
      }
    }
    return Buffer.concat(kept)
  } finally {
    reader.close()
  }
}
