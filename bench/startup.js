#!/usr/bin/env node
// Start-up cost of the CLI: wall time of `iommuctl --version` and `iommuctl --help` against
// `node -e 0` measured in the same run, as medians of several runs, printed as ratios.
// Usage: node bench/startup.js [RUNS]   (default 15)
import {spawnSync} from 'node:child_process'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const runs = Number(process.argv[2] ?? 15)
const bin = path.join(repo, 'bin/run.js')

const cases = [
  ['node -e 0 (reference)', ['-e', '0']],
  ['iommuctl --version', [bin, '--version']],
  ['iommuctl --help', [bin, '--help']],
]

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function time(args) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, {stdio: 'ignore', env: {...process.env, NO_COLOR: '1'}})
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}`)
  return Number(process.hrtime.bigint() - t0) / 1e6
}

// Warm the page cache once, then interleave the cases so drift hits them all alike.
for (const [, args] of cases) time(args)
const samples = cases.map(() => [])
for (let i = 0; i < runs; i++) cases.forEach(([, args], k) => samples[k].push(time(args)))

const ref = median(samples[0])
console.log(`startup, ${runs} runs each, node ${process.version}`)
for (const [k, [name]] of cases.entries()) {
  const m = median(samples[k])
  console.log(`${name.padEnd(24)} median ${m.toFixed(1).padStart(7)} ms   ${(m / ref).toFixed(2)}x node -e 0`)
}
