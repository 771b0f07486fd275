/**
 * Hostile clients for the session daemon: a generated stream of malformed requests (the count
 * printed), concurrent clients that each create and destroy an IOAS, and clients SIGKILLed
 * halfway through writing a request. Prints a JSON summary; the test checks it and then asks the
 * daemon for its state itself.
 * Usage: node --import tsx test/vm/guest/flood.ts SOCKET COUNT
 */
import {spawn} from 'node:child_process'
import * as net from 'node:net'

const [socket, countText] = process.argv.slice(2) as [string, string]
const count = Number(countText)

/** Sends lines on one connection and collects one response per line (or until the server closes). */
function exchange(lines: string[], expect = lines.length): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket)
    const got: Record<string, unknown>[] = []
    let buffer = ''
    c.setEncoding('utf8')
    c.on('connect', () => c.write(lines.join('')))
    c.on('data', (d: string) => {
      buffer += d
      let nl
      while ((nl = buffer.indexOf('\n')) >= 0) {
        got.push(JSON.parse(buffer.slice(0, nl)))
        buffer = buffer.slice(nl + 1)
      }
      if (got.length >= expect) c.end()
    })
    c.on('close', () => resolve(got))
    c.on('error', reject)
  })
}

// Deterministic generator (a fixed LCG), so a failure can be replayed.
let seed = 12345
const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
const ops = [
  'status',
  'create-ioas',
  'map',
  'unmap',
  'create-hwpt',
  'attach',
  'detach',
  'destroy',
  'stop',
  'nope',
  '',
]
// No {}: create-ioas with empty args is a valid request.
const junk: unknown[] = [null, -1, 1e308, 'x'.repeat(300), [], true, '0x', '../..', {size: -1}, 2 ** 53 + 1]
function malformed(i: number): string {
  switch (rand(10)) {
    case 0:
      return '{"v":1,"id":' + i + ',"op":' // truncated JSON
    case 1:
      return Buffer.from(Array.from({length: 40}, () => rand(256)))
        .toString('latin1')
        .replace(/\n/g, ' ')
    case 2:
      return JSON.stringify({v: 2, id: i, op: 'status'}) // wrong protocol version
    case 3:
      return JSON.stringify({v: 1, id: i, op: ops[rand(ops.length)], args: junk[rand(junk.length)]})
    case 4:
      return JSON.stringify({v: 1, id: i, op: 'map', args: {ioas: 'main', size: String(rand(4095) + 1)}}) // not a page multiple
    case 5:
      return JSON.stringify({
        v: 1,
        id: i,
        op: 'attach',
        args: {device: '0000:00:03.0', to: '99999', pasid: 1 << 21},
      })
    case 6:
      return JSON.stringify({v: 1, id: i, op: 'create-ioas', args: {name: '../../etc', extra: 1}})
    case 7:
      return JSON.stringify({v: 1, id: i, op: 'destroy', args: {id: String(100000 + rand(1000))}}) // unknown id
    case 8:
      return JSON.stringify([1, 2, 3])
    default:
      return JSON.stringify({v: 1, op: 'status', id: {nested: true}})
  }
}

const lines = Array.from({length: count}, (_, i) => malformed(i) + '\n')
const responses = (
  await Promise.all([0, 1, 2, 3].map((k) => exchange(lines.filter((_, i) => i % 4 === k))))
).flat()
const errors = responses.filter((r) => r.ok === false).length

// Concurrent well-behaved clients, each making and destroying its own IOAS.
const clients = await Promise.all(
  Array.from({length: 8}, async (_, k) => {
    const [made] = await exchange([
      JSON.stringify({v: 1, id: k, op: 'create-ioas', args: {name: `c${k}`}}) + '\n',
    ])
    const id = (made as {result: {id: number}}).result.id
    const [gone] = await exchange([
      JSON.stringify({v: 1, id: k, op: 'destroy', args: {id: String(id)}}) + '\n',
    ])
    return made!.ok === true && gone!.ok === true
  }),
)

// Clients killed with SIGKILL halfway through a request line.
let killed = 0
for (let k = 0; k < 5; k++) {
  const child = spawn(process.execPath, [
    '-e',
    `const c=require('net').connect(${JSON.stringify(socket)});c.on('connect',()=>{c.write('{"v":1,"id":1,"op":"create-ioas","ar');setTimeout(()=>{},60000)})`,
  ])
  await new Promise((r) => setTimeout(r, 300))
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  killed++
}

// An oversized line: one error, then the daemon closes that connection.
const long = await exchange(['{"v":1,"id":1,"op":"status","pad":"' + 'a'.repeat(70 * 1024) + '"}\n'], 1)

process.stdout.write(
  JSON.stringify({
    sent: count,
    responses: responses.length,
    errors,
    concurrentOk: clients.filter(Boolean).length,
    killed,
    oversized: long.map((r) => (r.error as {code: string} | undefined)?.code),
  }) + '\n',
)
