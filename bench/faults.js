#!/usr/bin/env node
// `iommuctl faults --log` over a generated kernel log of LINES lines (default 1,000,000), as
// lines per second, against `grep -c DMAR` and `wc -l` over the same file in the same run.
// One line in FAULT_EVERY is an IOMMU fault (VT-d, AMD-Vi and SMMUv2 forms, a few devices and
// reasons), the rest ordinary kernel messages with dmesg's time prefix.
// Usage: node bench/faults.js [LINES]   (run `npm run build` first)
import {spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const lines = Number(process.argv[2] ?? 1_000_000)
const FAULT_EVERY = 50

const FAULTS = [
  (i) =>
    `DMAR: [DMA Read NO_PASID] Request device [00:0${i % 8}.0] fault addr 0x${(0x1000 * i).toString(16)} [fault reason 0x06] PTE Read access is not set`,
  (i) =>
    `DMAR: [DMA Write] Request device [03:00.${i % 4}] PASID ffffffff fault addr ${(0x2000 * i).toString(16)} [fault reason 05] PTE Write access is not set`,
  (i) =>
    `nvme 0000:0${i % 3}:00.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x000c address=0x${(0x40 * i).toString(16)} flags=0x0020]`,
  (i) =>
    `arm-smmu d00000.iommu: Unhandled context fault: fsr=0x402, iova=0x${(0x100 * i).toString(16)}, fsynr=0x21, cbfrsynra=0x${i % 16}, cb=0`,
]
const OTHER = [
  (i) => `e1000e 0000:00:03.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx (${i})`,
  (i) => `EXT4-fs (nvme0n1p${i % 4}): mounted filesystem with ordered data mode. Quota mode: none.`,
  (i) =>
    `audit: type=1400 audit(${i}.123:${i}): apparmor="STATUS" operation="profile_load" name="p${i % 97}"`,
  (i) => `usb 1-${i % 8}: new high-speed USB device number ${i % 128} using xhci_hcd`,
]

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-bench-faults-'))
const log = path.join(tmp, 'dmesg.txt')
// An empty host tree for --root: the faults name devices it does not have, as with a user's saved log.
const root = path.join(tmp, 'root')
fs.mkdirSync(path.join(root, 'sys/bus/pci/devices'), {recursive: true})
fs.mkdirSync(path.join(root, 'sys/kernel/iommu_groups'), {recursive: true})
try {
  const out = fs.openSync(log, 'w')
  let chunk = ''
  for (let i = 0; i < lines; i++) {
    const t = (i / 1000).toFixed(6).padStart(12)
    const text =
      i % FAULT_EVERY === 0 ? FAULTS[(i / FAULT_EVERY) % FAULTS.length](i) : OTHER[i % OTHER.length](i)
    chunk += `[${t}] ${text}\n`
    if (chunk.length > 1 << 20) {
      fs.writeSync(out, chunk)
      chunk = ''
    }
  }
  fs.writeSync(out, chunk)
  fs.closeSync(out)
  const bytes = fs.statSync(log).size

  const run = (cmd, args) => {
    const t0 = process.hrtime.bigint()
    const r = spawnSync(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 1 << 30,
      env: {...process.env, NO_COLOR: '1'},
    })
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    // grep -c exits 1 when it counts nothing: only 2 and above are errors.
    if (r.status === null || r.status > 1)
      throw new Error(`${cmd} ${args.join(' ')}: ${r.error ?? r.signal ?? ''} ${r.stderr}`)
    return {s, stdout: r.stdout.toString()}
  }
  const cases = [
    ['wc -l (reference)', 'wc', ['-l', log]],
    ['grep -c DMAR (reference)', 'grep', ['-c', 'DMAR', log]],
    [
      'iommuctl faults --log --json',
      process.execPath,
      [path.join(repo, 'bin/run.js'), 'faults', '--log', log, '--json', '--root', root],
    ],
  ]
  console.log(
    `faults --log over ${lines.toLocaleString('en')} lines (${(bytes / 1e6).toFixed(1)} MB), node ${process.version}`,
  )
  const results = cases.map(([name, cmd, args]) => ({name, ...run(cmd, args)}))
  const report = JSON.parse(results[2].stdout)
  const records = report.groups.reduce((n, g) => n + g.count, 0)
  if (report.lines !== lines) throw new Error(`faults read ${report.lines} lines, not ${lines}`)
  if (records !== Math.ceil(lines / FAULT_EVERY))
    throw new Error(`faults found ${records} records, not ${Math.ceil(lines / FAULT_EVERY)}`)
  const ref = results[0].s
  for (const r of results) {
    console.log(
      `  ${r.name.padEnd(30)} ${r.s.toFixed(2).padStart(7)} s  ${Math.round(lines / r.s)
        .toLocaleString('en')
        .padStart(
          13,
        )} lines/s  ${(r.s / ref).toFixed(1).padStart(6)}x wc -l  ${(r.s / results[1].s).toFixed(1).padStart(6)}x grep`,
    )
  }
  console.log(`  ${records} fault records in ${report.groups.length} groups`)
} finally {
  fs.rmSync(tmp, {recursive: true, force: true})
}
