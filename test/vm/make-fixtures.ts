/**
 * Regenerates test/fixtures/<topology>.tar.gz: boots each topology and has iommuctl snapshot
 * the guest as root, so every fixture comes from a real kernel. Kept as the tarball the tool
 * wrote, since git would drop the empty directories (built-in modules, idle drivers) that a
 * tree holds. Usage: npm run fixtures [-- NAMES...]
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {REPO, explain, runInGuest} from './harness.js'
import {TOPOLOGIES, TopologyName} from './topologies.js'

const FIXTURES = path.join(REPO, 'test/fixtures')
const names = (
  process.argv.slice(2).length ? process.argv.slice(2) : ['intel', 'virtio', 'none', 'amd']
) as TopologyName[]

for (const name of names) {
  if (!TOPOLOGIES[name])
    throw new Error(`unknown topology ${name}; known: ${Object.keys(TOPOLOGIES).join(', ')}`)
  const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-fixture-'))
  try {
    const r = await runInGuest(name, {
      command: `node bin/run.js snapshot -o /run/share/${name}.tar.gz`,
      shareDir: share,
    })
    if (r.status !== 0) {
      console.error(`${name}: not captured\n${explain(r)}`)
      process.exitCode = 1
      continue
    }
    const dest = path.join(FIXTURES, `${name}.tar.gz`)
    fs.copyFileSync(path.join(share, `${name}.tar.gz`), dest)
    console.log(`${name}: captured in ${path.relative(REPO, dest)} (${r.seconds.toFixed(1)}s)\n${r.stdout}`)
  } finally {
    fs.rmSync(share, {recursive: true, force: true})
  }
}
