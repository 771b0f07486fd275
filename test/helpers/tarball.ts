import * as fs from 'node:fs'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import * as zlib from 'node:zlib'

/**
 * A hand-made tar writer for the hostile-input suite: node-tar writes only what it finds on disk,
 * and will not write absolute or `../` names, device nodes, or a header that lies.
 */

/** ustar type flags, plus the pax and GNU extensions and a few that no extractor should accept. */
export type TarType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'dir'
  | 'fifo'
  | 'contiguous'
  | 'pax'
  | 'pax-global'
  | 'gnu-longname'
  | 'gnu-sparse'
  | 'unknown'

const FLAG: Record<TarType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
  contiguous: '7',
  pax: 'x',
  'pax-global': 'g',
  'gnu-longname': 'L',
  'gnu-sparse': 'S',
  unknown: 'Z',
}

export interface TarEntry {
  name: string | Buffer
  type: TarType
  mode?: number
  linkname?: string | Buffer
  data?: Buffer
  /** A body of this many zero bytes, streamed (a bomb: small compressed, big unpacked). */
  zeros?: number
  devmajor?: number
  devminor?: number
  /** Break the header's checksum. */
  badChecksum?: boolean
}

const BLOCK = 512

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'latin1')
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(BLOCK)
  const name = Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name)
  name.copy(h, 0, 0, Math.min(name.length, 100))
  octal(h, 100, 8, e.mode ?? (e.type === 'dir' ? 0o755 : 0o644))
  octal(h, 108, 8, 0)
  octal(h, 116, 8, 0)
  octal(h, 124, 12, size)
  octal(h, 136, 12, 1_700_000_000)
  h.write('        ', 148, 8, 'latin1')
  h.write(FLAG[e.type], 156, 1, 'latin1')
  if (e.linkname) Buffer.from(e.linkname).copy(h, 157, 0, 100)
  h.write('ustar\0', 257, 6, 'latin1')
  h.write('00', 263, 2, 'latin1')
  h.write('root', 265, 32, 'latin1')
  h.write('root', 297, 32, 'latin1')
  octal(h, 329, 8, e.devmajor ?? 0)
  octal(h, 337, 8, e.devminor ?? 0)
  let sum = 0
  for (const b of h) sum += b
  octal(h, 148, 7, e.badChecksum ? sum + 1 : sum)
  return h
}

/** One pax record, "LEN key=value\n", LEN counting itself. */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')])
  let len = body.length + 1
  while (String(len).length + body.length !== len) len = String(len).length + body.length
  return Buffer.concat([Buffer.from(String(len)), body])
}

/** The pax records carrying a name or link name that does not fit in 100 bytes. */
function paxFor(e: TarEntry): Buffer | null {
  const records: Buffer[] = []
  if (Buffer.from(e.name).length > 100) records.push(paxRecord('path', e.name))
  if (e.linkname && Buffer.from(e.linkname).length > 100) records.push(paxRecord('linkpath', e.linkname))
  return records.length ? Buffer.concat(records) : null
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK)
}

function* blocks(entries: Iterable<TarEntry>): Generator<Buffer> {
  for (const e of entries) {
    const pax = e.type === 'pax' ? null : paxFor(e)
    if (pax) {
      yield header({name: 'PaxHeader', type: 'pax'}, pax.length)
      yield pax
      yield padding(pax.length)
    }
    const size = e.data?.length ?? e.zeros ?? 0
    yield header(e, size)
    if (e.data) yield e.data
    for (let left = e.zeros ?? 0; left > 0; left -= 1 << 20) yield Buffer.alloc(Math.min(left, 1 << 20))
    yield padding(size)
  }
  yield Buffer.alloc(2 * BLOCK)
}

/** Writes entries as a .tar.gz (streamed: a zero-filled bomb never sits in memory). */
export async function writeTarGz(file: string, entries: Iterable<TarEntry>): Promise<void> {
  await pipeline(Readable.from(blocks(entries)), zlib.createGzip({level: 1}), fs.createWriteStream(file))
}

/** A directory tree as tar entries, parents first, links kept as links, names as raw bytes. */
export function* treeEntries(dir: string | Buffer, prefix = Buffer.alloc(0)): Generator<TarEntry> {
  const names = fs.readdirSync(dir, {encoding: 'buffer'}).sort(Buffer.compare)
  for (const name of names) {
    const abs = Buffer.concat([Buffer.from(dir), Buffer.from('/'), name])
    const rel = Buffer.concat([prefix, name])
    const st = fs.lstatSync(abs)
    if (st.isSymbolicLink()) {
      yield {name: rel, type: 'symlink', linkname: fs.readlinkSync(abs, {encoding: 'buffer'})}
    } else if (st.isDirectory()) {
      yield {name: Buffer.concat([rel, Buffer.from('/')]), type: 'dir'}
      yield* treeEntries(abs, Buffer.concat([rel, Buffer.from('/')]))
    } else if (st.isFIFO()) yield {name: rel, type: 'fifo'}
    else if (st.isFile()) {
      // A sparse 2 GiB attribute goes in as a streamed run of zeros, cut to a bomb's size.
      yield st.size > 1 << 20
        ? {name: rel, type: 'file', zeros: Math.min(st.size, 256 << 20)}
        : {name: rel, type: 'file', data: fs.readFileSync(abs)}
    }
  }
}
