import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {MAX_U64, parseSize, SIZE_PATTERN} from '../../src/model/units-of-measure.js'
import {requestValidator} from '../../src/session/daemon.js'
import {LineReader, serveLines} from '../../src/session/lines.js'
import {duplicateKey} from '../../src/session/plan.js'
import {parseMemlock} from '../../src/sysfs/limits.js'
import {REPO} from '../helpers/cli.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-session-unit-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

describe('sizes: one grammar', () => {
  it('integers with K, M, G, T and optionally iB, exact, below 2^64', () => {
    for (const [text, bytes] of [
      ['0', 0n],
      ['4096', 4096n],
      ['4K', 4096n],
      ['2M', 2n << 20n],
      ['2MiB', 2n << 20n],
      ['1G', 1n << 30n],
      ['3TiB', 3n << 40n],
      ['18446744073709551615', MAX_U64],
      ['16777215T', 16777215n << 40n],
    ] as const) {
      assert.equal(parseSize(text), bytes, text)
    }
    for (const text of ['', '1.5G', '2T ', ' 2T', '2t', '2 M', '2MB', '2iB', '-1', '0x1000', '1e3', '2P']) {
      assert.throws(() => parseSize(text), /is not a size: an integer of bytes/, JSON.stringify(text))
    }
    for (const text of ['18446744073709551616', '16777216T', '99999999999999999999']) {
      assert.throws(() => parseSize(text), /is 2\^64 bytes or more/, text)
    }
  })

  it("the plan's and the protocol's Size pattern is the same grammar", () => {
    for (const name of ['plan', 'session-request']) {
      const schema = JSON.parse(fs.readFileSync(path.join(REPO, 'schemas', `${name}.json`), 'utf8'))
      const pattern = new RegExp(schema.definitions.Size.pattern)
      for (const text of ['4096', '2M', '2MiB', '1.5G', '2iB', '2MB', '1T', '123456789012345678901', '']) {
        assert.equal(pattern.test(text), SIZE_PATTERN.test(text), `${name}: ${text}`)
      }
    }
  })
})

describe('/proc/self/limits: one reader', () => {
  const table = (soft: string) =>
    `Limit                     Soft Limit           Hard Limit           Units     \nMax locked memory         ${soft.padEnd(21)}${soft.padEnd(21)}bytes     \n`
  it('reads the soft RLIMIT_MEMLOCK, unlimited, or nothing', () => {
    assert.deepEqual(parseMemlock(table('8388608')), {
      line: table('8388608').split('\n')[1],
      soft: 8388608n,
      unlimited: false,
    })
    assert.equal(parseMemlock(table('unlimited')).unlimited, true)
    assert.equal(parseMemlock(table('unlimited')).soft, null)
    assert.deepEqual(parseMemlock(''), {line: null, soft: null, unlimited: false})
    assert.equal(
      parseMemlock(fs.readFileSync('/proc/self/limits', 'utf8')).line?.startsWith('Max locked'),
      true,
    )
  })
})

describe('plans: a key given twice', () => {
  it('is found, named by its path, escapes and nesting included', () => {
    assert.equal(duplicateKey('{"a":1,"b":{"c":[1,{"d":1,"e":"}\\"{","d":2}]}}'), 'b.c[1].d')
    assert.equal(duplicateKey('{"maps":[{"size":"4K"},{"size":"4K","\\u0073ize":"8K"}]}'), 'maps[1].size')
    assert.equal(duplicateKey('{"version":1,"version":1}'), 'version')
    assert.equal(duplicateKey('{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":1}]}'), null)
    assert.equal(duplicateKey('[{"a":"\\\\"},{"a":2}]'), null)
  })
})

describe('session requests: each checked against its own op', () => {
  it('names the op, the field and what is wrong with it', async () => {
    const check = await requestValidator()
    const req = (op: string, args?: unknown) => ({v: 1, id: 1, op, ...(args === undefined ? {} : {args})})
    assert.equal(check(req('status')), null)
    assert.equal(check(req('map', {ioas: 'main', size: '2MiB'})), null)
    assert.equal(check(req('unmap', {ioas: 'main', iova: 'buf'})), null, 'a mapping by name')
    assert.equal(check(req('unmap', {ioas: 'main', iova: '0x100000000'})), null)
    for (const [data, message] of [
      [req('map', {ioas: 'main', size: '1.5G'}), /^map\.args\.size: must match pattern/],
      [
        req('map', {ioas: 'main', size: '2M', colour: 1}),
        /^map\.args: must NOT have additional properties \(colour\)/,
      ],
      [req('map', {size: '2M'}), /^map\.args: must have required property 'ioas'/],
      [req('unmap', {ioas: 'main', iova: '../x'}), /^unmap\.args\.iova: must match pattern/],
      [
        req('attach', {device: '0000:00:03.0', to: 'h1', pasid: 1.5}),
        /^attach\.args\.pasid: must be integer/,
      ],
      [req('detach', {device: '0000:00:03.0', pasid: 1 << 20}), /^detach\.args\.pasid: must be <= 1048575/],
      [
        req('create-hwpt', {ioas: 'm', device: '0000:00:03.0', flags: ['x']}),
        /^create-hwpt\.args\.flags\[0\]: must be equal to one of the allowed values/,
      ],
      [req('nope'), /^op: "nope" is not one of status, stop, create-ioas/],
      [{...req('status'), v: 2}, /^v: protocol version 2 is not 1/],
      [[1, 2], /^request: must be an object/],
      [{v: 1, op: 'status'}, /^status: must have required property 'id'/],
    ] as const) {
      assert.match(check(data) ?? 'valid', message, JSON.stringify(data))
    }
  })
})

/** A server that serves its connections with serveLines, answering each line with its length. */
async function lineServer(idleMs: number): Promise<{socket: string; server: net.Server}> {
  const socket = path.join(tmp, `lines-${Math.random().toString(36).slice(2)}.sock`)
  const server = net.createServer((conn) =>
    serveLines(conn, {
      maxLine: 1024,
      idleMs,
      answer: (line) => ({ok: true, result: {length: line.length}}),
      refusal: (code, message) => ({ok: false, error: {code, message}}),
      closing: () => false,
    }),
  )
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  return {socket, server}
}

/** Connects, writes, and collects the response lines until the server closes, `expect` lines came, or ms pass. */
function talk(
  socket: string,
  data: Buffer | string,
  ms = 3000,
  expect = Infinity,
): Promise<{lines: unknown[]; closed: boolean}> {
  return new Promise((resolve) => {
    const c = net.connect(socket)
    let text = ''
    const done = (closed: boolean) => {
      clearTimeout(timer)
      c.destroy()
      resolve({
        lines: text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
        closed,
      })
    }
    const timer = setTimeout(() => done(false), ms)
    c.on('connect', () => c.write(data))
    c.setEncoding('utf8')
    c.on('data', (d: string) => {
      text += d
      if (text.split('\n').length - 1 >= expect) done(false)
    })
    c.on('close', () => done(true))
    c.on('error', () => {})
  })
}

describe("the daemon's line reader: peers that stall, flood, and send what is not a line of text", () => {
  it('splits bytes into lines, refuses one over the limit and one that is not UTF-8', () => {
    const r = new LineReader(8)
    assert.deepEqual(r.push(Buffer.from('ab\ncd')), [{line: 'ab'}])
    assert.deepEqual(r.push(Buffer.from([0x0a, 0xc3])), [{line: 'cd'}])
    assert.deepEqual(r.push(Buffer.from([0xa9, 0x0a, 0xff, 0x0a])), [
      {line: 'é'},
      {refused: 'NOT_UTF8', message: 'a request line is not UTF-8 text'},
    ])
    assert.deepEqual(r.push(Buffer.from('123456789')), [
      {refused: 'TOO_LONG', message: 'a request line is at most 8 bytes'},
    ])
  })

  it('a stalled peer is closed when idle, and others are served meanwhile', async () => {
    const {socket, server} = await lineServer(300)
    try {
      const stalled = talk(socket, '{"v":1,"id":1,"op":"sta', 5000)
      const other = await talk(socket, 'hello\n', 200)
      assert.deepEqual(other.lines, [{ok: true, result: {length: 5}}])
      const s = await stalled
      assert.equal(s.closed, true, 'closed by the idle timeout, not by the test')
      assert.deepEqual(s.lines, [])
    } finally {
      server.close()
    }
  })

  it('a flood of lines gets one answer each, in order; non-UTF-8 gets an error and the connection goes on', async () => {
    const {socket, server} = await lineServer(2000)
    try {
      const flood = Array.from({length: 20000}, (_, i) => `${'x'.repeat(1 + (i % 50))}\n`).join('')
      const r = await talk(socket, flood, 20000, 20000)
      assert.equal(r.lines.length, 20000)
      assert.deepEqual(r.lines[49], {ok: true, result: {length: 50}})
      const bad = await talk(
        socket,
        Buffer.concat([Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from('ok\n')]),
        300,
      )
      assert.deepEqual(bad.lines, [
        {ok: false, error: {code: 'NOT_UTF8', message: 'a request line is not UTF-8 text'}},
        {ok: true, result: {length: 2}},
      ])
    } finally {
      server.close()
    }
  })

  it('an oversized line, ended or not, gets TOO_LONG and the connection is closed; the server stays up', async () => {
    const {socket, server} = await lineServer(2000)
    try {
      for (const data of ['y'.repeat(5000), 'y'.repeat(2000) + '\n' + 'after\n']) {
        const r = await talk(socket, data)
        assert.equal(r.closed, true)
        assert.deepEqual(r.lines, [
          {ok: false, error: {code: 'TOO_LONG', message: 'a request line is at most 1024 bytes'}},
        ])
      }
      assert.deepEqual((await talk(socket, 'still\n', 200)).lines, [{ok: true, result: {length: 5}}])
    } finally {
      server.close()
    }
  })
})
