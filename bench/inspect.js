#!/usr/bin/env node
// Cost of `iommuctl groups --json` and `iommuctl devices --json` on large hosts, against lspci
// reading the same tree in the same run. For each size, bench/gen-sysfs.js writes the sysfs tree
// of a host with that many PCI functions into a temporary directory (removed afterwards); each
// command then runs once to warm the page cache (that run's output is checked and its peak RSS
// taken) and RUNS more times, interleaved, for the median wall time.
//
// Usage: node bench/inspect.js [SIZE ...] [--runs N] [--no-vvv] [--profile] [--keep]
//   SIZE       PCI functions per tree (default 500 1000 2000 4000 8000; env INSPECT_SIZES)
//   --runs N   timed runs per command and size (default 5; env INSPECT_RUNS)
//   --no-vvv   leave out the `lspci -vvv` reference
//   --profile  after the timings of the largest size, run groups and devices once more under
//              `node --cpu-prof` and print where their time goes (self time per function and file)
//   --keep     leave the generated trees and profiles in place and print where they are
// Start-up is measured too (`node -e 0`, `iommuctl --version`): at small sizes it dominates.
// Nothing is asserted: it prints a table. Build first: npx tsc -p tsconfig.build.json.
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import {extractFixture, generate} from './gen-sysfs.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bin = path.join(repo, 'bin/run.js')
const node = process.execPath

// --- arguments ---

const argv = process.argv.slice(2)
const flag = (name) => {
  const i = argv.indexOf(name)
  if (i < 0) return false
  argv.splice(i, 1)
  return true
}
const option = (name) => {
  const i = argv.indexOf(name)
  if (i < 0) return undefined
  const [, value] = argv.splice(i, 2)
  return value
}
const runs = Number(option('--runs') ?? process.env.INSPECT_RUNS ?? 5)
const withVvv = !flag('--no-vvv')
const profile = flag('--profile')
const keep = flag('--keep')
const sizes = (argv.length ? argv : (process.env.INSPECT_SIZES ?? '500 1000 2000 4000 8000').split(/[\s,]+/))
  .filter(Boolean)
  .map(Number)
if (!(runs >= 1) || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error('usage: node bench/inspect.js [SIZE ...] [--runs N] [--no-vvv] [--profile] [--keep]')
  process.exit(2)
}
if (!fs.existsSync(path.join(repo, 'dist/commands'))) {
  console.error('dist/ is missing: build first (npx tsc -p tsconfig.build.json)')
  process.exit(2)
}

// --- measuring ---

/**
 * Peak RSS of a child: GNU time's %M (getrusage of the waited-for child) where /usr/bin/time runs,
 * else the same getrusage(RUSAGE_CHILDREN).ru_maxrss read by a python3 wrapper; n/a without either.
 */
const PY_RSS =
  'import resource,subprocess,sys\n' +
  'r=subprocess.run(sys.argv[2:]).returncode\n' +
  'open(sys.argv[1],"w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n' +
  'sys.exit(r)'
const works = (cmd, args) => spawnSync(cmd, args, {stdio: 'ignore'}).status === 0
const rssMethod = works('/usr/bin/time', ['-f', '%M', '-o', '/dev/null', 'true'])
  ? 'time'
  : works('python3', ['-c', PY_RSS, '/dev/null', 'true'])
    ? 'python'
    : null
const RSS_METHOD_TEXT = {
  time: 'GNU /usr/bin/time -f %M (getrusage ru_maxrss of the child)',
  python: 'python3 getrusage(RUSAGE_CHILDREN).ru_maxrss around the child (no /usr/bin/time here)',
}

const env = {...process.env, NO_COLOR: '1'}
delete env.IOMMUCTL_ROOT

/** One run for output and peak RSS: stdout to outFile; returns {rssMb, status, stderr}. */
function measuredRun([cmd, ...args], outFile) {
  const rssFile = `${outFile}.rss`
  const wrapped =
    rssMethod === 'time'
      ? ['/usr/bin/time', '-f', '%M', '-o', rssFile, cmd, ...args]
      : rssMethod === 'python'
        ? ['python3', '-c', PY_RSS, rssFile, cmd, ...args]
        : [cmd, ...args]
  const fd = fs.openSync(outFile, 'w')
  let r
  try {
    r = spawnSync(wrapped[0], wrapped.slice(1), {stdio: ['ignore', fd, 'pipe'], env, encoding: 'utf8'})
  } finally {
    fs.closeSync(fd)
  }
  let rssMb = null
  if (rssMethod && fs.existsSync(rssFile)) {
    // GNU time writes "Command exited with non-zero status N" before the value on failure.
    const kb = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop())
    if (Number.isFinite(kb) && kb > 0) rssMb = kb / 1024
    fs.rmSync(rssFile)
  }
  return {rssMb, status: r.status, stderr: r.stderr ?? String(r.error)}
}

/** Wall time of one run in ms, stdout to /dev/null; NaN when the command fails. */
function timedRun([cmd, ...args]) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(cmd, args, {stdio: ['ignore', 'ignore', 'ignore'], env})
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  return r.status === 0 ? ms : NaN
}

function median(xs) {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Warm-up (checked, RSS) then `runs` timed runs per case, interleaved so drift hits all alike. */
function measure(cases, dir) {
  const results = cases.map((c, k) => {
    const out = path.join(dir, `out-${k}`)
    const w = measuredRun(c.cmd, out)
    const check = w.status === 0 ? c.check?.(fs.readFileSync(out, 'utf8')) : `exit ${w.status}`
    if (w.status !== 0)
      console.log(`  ${c.name}: exit ${w.status}: ${w.stderr.trim().split('\n').slice(-3).join(' | ')}`)
    const outMb = fs.statSync(out).size / 2 ** 20
    fs.rmSync(out)
    return {name: c.name, rssMb: w.rssMb, check, outMb, samples: []}
  })
  for (let i = 0; i < runs; i++) cases.forEach((c, k) => results[k].samples.push(timedRun(c.cmd)))
  for (const r of results) r.ms = median(r.samples)
  return results
}

// --- profiles ---

/**
 * Runs one command under `node --cpu-prof` and returns lines that show the functions and files
 * with the most self time (the sampled time spent in the function itself, not in what it calls),
 * and the project's own functions (dist/) with the most inclusive time.
 */
function profileRun(name, [cmd, ...args], dir) {
  const r = spawnSync(cmd, ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '250', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
    encoding: 'utf8',
  })
  const file =
    r.status === 0 && fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile')) : null
  if (!file) {
    return [`\nprofile of ${name}: failed (exit ${r.status}): ${r.stderr}`]
  }
  const p = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'))
  const nodes = new Map(p.nodes.map((x) => [x.id, x]))
  const parent = new Map()
  for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id)
  const self = new Map()
  for (let i = 0; i < p.samples.length; i++) {
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i + 1] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const where = (f) =>
    f.url
      .replace(`file://${repo}/`, '')
      .replace(/^.*node_modules\//, '')
      .replace(/^file:\/\//, '')
  const fnKey = (x) => {
    const f = x.callFrame
    const at = where(f)
    return `${f.functionName || '(anonymous)'}${at ? `  ${at}:${f.lineNumber + 1}` : ''}`
  }
  const fileKey = (x) => {
    const at = where(x.callFrame)
    if (!at) return x.callFrame.functionName // (garbage collector), (program), native calls
    const m = /^(@[^/]+\/[^/]+|[^/]+)\//.exec(at)
    return at.startsWith('dist/') || at.startsWith('node:') || !m ? at : m[1]
  }
  const sum = (key) => {
    const m = new Map()
    for (const [id, t] of self) m.set(key(nodes.get(id)), (m.get(key(nodes.get(id))) ?? 0) + t)
    return [...m].sort((a, b) => b[1] - a[1])
  }
  const inclusive = new Map()
  for (const [id, t] of self) {
    const seen = new Set()
    for (let x = id; x !== undefined; x = parent.get(x)) {
      const k = fnKey(nodes.get(x))
      if (!seen.has(k) && where(nodes.get(x).callFrame).startsWith('dist/')) {
        seen.add(k)
        inclusive.set(k, (inclusive.get(k) ?? 0) + t)
      }
    }
  }
  const line = ([k, t]) =>
    `    ${(t / 1000).toFixed(0).padStart(6)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`
  const out = []
  out.push(
    `\nprofile of ${name} (${(total / 1000).toFixed(0)} ms sampled${keep ? `; ${path.join(dir, file)}` : ''})`,
  )
  out.push('  self time by function (native names such as open, readdir are the syscalls fs makes):')
  for (const e of sum(fnKey).slice(0, 15)) out.push(line(e))
  out.push('  self time by file or package:')
  for (const e of sum(fileKey).slice(0, 10)) out.push(line(e))
  out.push("  inclusive time of the project's own functions (dist/):")
  for (const e of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 12)) out.push(line(e))
  return out
}

// --- output checks (printed, never asserted) ---

const lines = (text) => text.split('\n').filter(Boolean)
const expect = (what, got, want) => `${what} ${got}/${want}${got === want ? '' : ' MISMATCH'}`
const checkJsonArray = (what, want, count) => (text) => {
  try {
    const list = JSON.parse(text)
    return expect(what, count(list), want)
  } catch (error) {
    return `${what}: not JSON (${error.message}) MISMATCH`
  }
}

// --- the run ---

const fmt = (x, digits = 0) => (x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(digits))
const lspciVersion = spawnSync('lspci', ['--version'], {encoding: 'utf8'}).stdout?.trim() ?? 'lspci missing'
console.log(
  `inspect bench: node ${process.version}, ${lspciVersion}, ${os.cpus().length} CPUs, ${os.platform()} ${os.release()}`,
)
console.log(
  `${runs} timed runs per command and size (median, stdout to /dev/null) after 1 warm-up run, whose output is checked`,
)
console.log(
  `peak RSS of the warm-up run: ${rssMethod ? RSS_METHOD_TEXT[rssMethod] : 'n/a (neither /usr/bin/time nor python3)'}`,
)

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-bench-'))
console.log(`trees under ${work} (os.tmpdir(); TMPDIR=/dev/shm puts them on tmpfs, like sysfs in memory)`)
const cleanup = () => {
  if (!keep) fs.rmSync(work, {recursive: true, force: true})
}
process.on('SIGINT', () => {
  cleanup()
  process.exit(130)
})

const rows = []
const profiles = []
try {
  const base = measure(
    [
      {name: 'node -e 0', cmd: [node, '-e', '0']},
      {name: 'iommuctl --version', cmd: [node, bin, '--version']},
    ],
    work,
  )
  console.log(`\nstart-up: ${base.map((b) => `${b.name} ${fmt(b.ms, 1)} ms, ${fmt(b.rssMb)} MB`).join('; ')}`)
  const startup = base[1].ms

  const fixture = extractFixture()
  try {
    for (const n of sizes) {
      const tree = path.join(work, `host-${n}`)
      const gen = generate(n, tree, {fixtureDir: fixture})
      const pci = path.join(tree, 'sys/bus/pci')
      const lspci = ['lspci', '-D', '-A', 'linux-sysfs', '-O', `sysfs.path=${pci}`, '-O', 'hwdb.disable=1']
      const cases = [
        {
          name: 'groups',
          cmd: [node, bin, 'groups', '--json', '--root', tree],
          check: checkJsonArray('groups', gen.groups, (l) => l.length),
        },
        {
          name: 'devices',
          cmd: [node, bin, 'devices', '--json', '--root', tree],
          check: checkJsonArray('devices', n, (l) => l.length),
        },
        {name: 'lspci', cmd: lspci, check: (t) => expect('lspci', lines(t).length, n)},
      ]
      if (withVvv) {
        cases.push({
          name: 'lspci -vvv',
          cmd: [...lspci, '-vvv'],
          check: (t) => expect('lspci -vvv', lines(t).filter((l) => /^[0-9a-f]{4}:/.test(l)).length, n),
        })
      }
      const res = measure(cases, work)
      const by = Object.fromEntries(res.map((r) => [r.name, r]))
      console.log(
        `\nN=${n}: ${gen.groups} groups (${gen.sharedGroups} shared), ${gen.vfs} VFs, ${gen.domains} domains, ` +
          `${gen.rootBuses} root buses, ${gen.units} units; tree written in ${fmt(gen.ms)} ms`,
      )
      console.log(`  checks: ${res.map((r) => r.check).join(', ')}`)
      console.log(`  output: ${res.map((r) => `${r.name} ${fmt(r.outMb, 1)} MB`).join(', ')}`)
      rows.push({n, groups: gen.groups, by})
      if (profile && n === Math.max(...sizes)) {
        for (const c of cases.slice(0, 2)) {
          profiles.push(...profileRun(`${c.name} at N=${n}`, c.cmd, path.join(work, `prof-${c.name}-${n}`)))
        }
      }
      if (!keep) fs.rmSync(tree, {recursive: true, force: true})
      else console.log(`  tree kept: ${tree}`)
    }
  } finally {
    fs.rmSync(fixture, {recursive: true, force: true})
  }

  // --- tables ---
  const names = ['groups', 'devices', 'lspci', ...(withVvv ? ['lspci -vvv'] : [])]
  const w = 16
  const pad = (s, n = w) => String(s).padStart(n)
  console.log('\nmedian wall time and peak RSS per command')
  console.log(pad('N', 6) + pad('groups', 8) + names.map((c) => pad(`${c} ms / MB`, w + 4)).join(''))
  for (const r of rows) {
    console.log(
      pad(r.n, 6) +
        pad(r.groups, 8) +
        names.map((c) => pad(`${fmt(r.by[c].ms)} / ${fmt(r.by[c].rssMb)}`, w + 4)).join(''),
    )
  }

  const ratios = [
    ['groups/lspci', 'groups', 'lspci'],
    ['devices/lspci', 'devices', 'lspci'],
    ...(withVvv ? [['devices/lspci-vvv', 'devices', 'lspci -vvv']] : []),
  ]
  console.log('\nratios of median wall time (and of the time above iommuctl --version start-up)')
  console.log(pad('N', 6) + ratios.map(([t]) => pad(t, 26)).join(''))
  for (const r of rows) {
    console.log(
      pad(r.n, 6) +
        ratios
          .map(([, a, b]) => {
            const total = r.by[a].ms / r.by[b].ms
            const above = (r.by[a].ms - startup) / r.by[b].ms
            return pad(`${fmt(total, 1)}x (${fmt(above, 1)}x)`, 26)
          })
          .join(''),
    )
  }

  if (rows.length > 1) {
    console.log('\ngrowth per size step: t(N)/t(prev), then ms per 1000 devices between the two sizes')
    console.log(
      '(time ratio = size ratio and a steady slope mean linear; a ratio near 1 means start-up bound)',
    )
    console.log(pad('step', 14) + names.map((c) => pad(c, 22)).join(''))
    for (let i = 1; i < rows.length; i++) {
      const a = rows[i - 1]
      const b = rows[i]
      const step = `${a.n}->${b.n} x${fmt(b.n / a.n, 1)}`
      console.log(
        pad(step, 14) +
          names
            .map((c) => {
              const ratio = b.by[c].ms / a.by[c].ms
              const slope = ((b.by[c].ms - a.by[c].ms) / (b.n - a.n)) * 1000
              return pad(`x${fmt(ratio, 2)}, ${fmt(slope)} ms/1k`, 22)
            })
            .join(''),
      )
    }
  }
  for (const l of profiles) console.log(l)
} finally {
  cleanup()
}
if (keep) console.log(`\nkept: ${work}`)
