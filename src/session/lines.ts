// The daemon's side of the socket: newline-delimited requests read as bytes, each line bounded and
// decoded as strict UTF-8, so that no peer can grow a buffer without limit, smuggle bytes that are
// not text, or hold a connection open forever.
import type * as net from 'node:net'

/** What a connection's bytes amount to so far: whole lines, or a reason to refuse one. */
export type LineEvent = {line: string} | {refused: 'TOO_LONG' | 'NOT_UTF8'; message: string}

/** Splits a byte stream into lines of at most maxLine bytes (without the newline). */
export class LineReader {
  private buffer: Buffer = Buffer.alloc(0)
  private readonly decoder = new TextDecoder('utf-8', {fatal: true})

  constructor(readonly maxLine: number) {}

  /** The lines a chunk completes; a line over maxLine (whole or not yet) ends the stream with TOO_LONG. */
  push(chunk: Buffer): LineEvent[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk
    const events: LineEvent[] = []
    let nl: number
    while ((nl = this.buffer.indexOf(0x0a)) >= 0 || this.buffer.length > this.maxLine) {
      if (nl < 0 || nl > this.maxLine) {
        this.buffer = Buffer.alloc(0)
        events.push({refused: 'TOO_LONG', message: `a request line is at most ${this.maxLine} bytes`})
        return events
      }
      const bytes = this.buffer.subarray(0, nl)
      this.buffer = this.buffer.subarray(nl + 1)
      try {
        events.push({line: this.decoder.decode(bytes)})
      } catch {
        events.push({refused: 'NOT_UTF8', message: 'a request line is not UTF-8 text'})
      }
    }
    return events
  }
}

export interface ServeOptions {
  maxLine: number
  /** A connection silent this long (mid-line or between requests) is closed. */
  idleMs: number
  /** Answers one line; a refused line gets refusal(). Never throws. */
  answer(line: string): object
  refusal(code: 'TOO_LONG' | 'NOT_UTF8', message: string): object
  /** Checked after each answer: true ends the connection (the daemon is stopping). */
  closing(): boolean
}

/**
 * Serves one connection: one response line per request line, in order. A line too long gets one
 * error and the connection is closed; one that is not UTF-8 gets an error and the connection goes
 * on; a peer that does not read its answers stops being read until it does.
 */
export function serveLines(conn: net.Socket, o: ServeOptions): void {
  const reader = new LineReader(o.maxLine)
  conn.on('error', () => {})
  conn.setTimeout(o.idleMs, () => conn.destroy())
  const send = (response: object) => {
    if (conn.destroyed) return
    if (!conn.write(JSON.stringify(response) + '\n')) {
      conn.pause()
      conn.once('drain', () => conn.resume())
    }
  }
  let ended = false
  conn.on('data', (chunk: Buffer) => {
    if (ended) return
    for (const event of reader.push(chunk)) {
      if ('refused' in event) {
        send(o.refusal(event.refused, event.message))
        if (event.refused === 'TOO_LONG') {
          ended = true
          conn.end()
          return
        }
        continue
      }
      if (event.line.trim()) send(o.answer(event.line))
      if (o.closing()) {
        ended = true
        conn.end()
        return
      }
    }
  })
}
