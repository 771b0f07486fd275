#!/usr/bin/env node
// Start-up cost of the CLI: wall time of `iommuctl --version`, `iommuctl --help` and each
// read-only command (status, units, groups, devices, as tables and as --json) on a small fixture
// root, against `node -e 0` measured in the same run, as medians of several interleaved runs,
// printed as ratios and as milliseconds over `node -e 0`.
// Usage: node bench/startup.js [RUNS] [--fixture NAME]   (default 15 runs, fixture intel)
// The fixture (test/fixtures/NAME.tar.gz) is unpacked once into a temporary directory, so what is
// timed is the command, not unpacking a tarball.
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const argv = process.argv.slice(2)
const fixtureAt = argv.indexOf('--fixture')
const fixture = fixtureAt >= 0 ? argv.splice(fixtureAt, 2)[1] : 'intel'
const runs = Number(argv[0] ?? 15)
if (!Number.isInteger(runs) || runs < 1) throw new Error(`RUNS must be a whole number, not ${argv[0]}`)
const bin = path.join(repo, 'bin/run.js')

const tarball = path.join(repo, 'test/fixtures', `${fixture}.tar.gz`)
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-startup-'))
process.on('exit', () => fs.rmSync(root, {recursive: true, force: true}))
execFileSync('tar', ['-xzf', tarball, '-C', root])

const cases = [
  ['node -e 0 (reference)', ['-e', '0']],
  ['iommuctl --version', [bin, '--version']],
  ['iommuctl --help', [bin, '--help']],
  ...['status', 'units', 'groups', 'devices'].flatMap((cmd) => [
    [`iommuctl ${cmd}`, [bin, cmd, '--root', root]],
    [`iommuctl ${cmd} --json`, [bin, cmd, '--json', '--root', root]],
  ]),
]

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

// CPU time (user + system) of each run from GNU time where it is installed: under load from other
// work it moves less than wall time does.
const gnuTime = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null
const cpuFile = path.join(root, '.cpu')

function time(args) {
  const t0 = process.hrtime.bigint()
  const [cmd, cmdArgs] = gnuTime
    ? [gnuTime, ['-f', '%U %S', '-o', cpuFile, process.execPath, ...args]]
    : [process.execPath, args]
  const r = spawnSync(cmd, cmdArgs, {stdio: 'ignore', env: {...process.env, NO_COLOR: '1'}})
  // status exits 1 when a check fails (a fixture may well not be ready): only a crash or a
  // usage error means the number is not the command's.
  if (r.status !== 0 && !(args.includes('status') && r.status === 1)) {
    throw new Error(`${args.join(' ')} exited ${r.status ?? r.signal}`)
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e6
  if (!gnuTime) return {wall, cpu: NaN}
  const [user, sys] = fs.readFileSync(cpuFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number)
  return {wall, cpu: (user + sys) * 1000}
}

// Warm the page cache once, then interleave the cases so drift hits them all alike.
for (const [, args] of cases) time(args)
const samples = cases.map(() => [])
for (let i = 0; i < runs; i++) cases.forEach(([, args], k) => samples[k].push(time(args)))

const stat = (k, key) => median(samples[k].map((s) => s[key]))
const columns = (k, key) => {
  const m = stat(k, key)
  const ref = stat(0, key)
  const delta = k === 0 ? '' : (m - ref).toFixed(1)
  return `${m.toFixed(1).padStart(8)} ms ${(m / ref).toFixed(2).padStart(6)}x ${delta.padStart(8)}`
}
const load = os.loadavg()[0].toFixed(1)
console.log(`startup, ${runs} runs each, node ${process.version}, fixture ${fixture}, load ${load}`)
console.log(
  `${''.padEnd(26)}    wall median  ratio   +ms    ${gnuTime ? '     CPU median  ratio   +ms' : '(no /usr/bin/time: no CPU times)'}`,
)
for (const [k, [name]] of cases.entries()) {
  console.log(`${name.padEnd(26)} ${columns(k, 'wall')}   ${gnuTime ? columns(k, 'cpu') : ''}`)
}
console.log('ratio: to node -e 0 in this run; +ms: over node -e 0 (median against median)')
