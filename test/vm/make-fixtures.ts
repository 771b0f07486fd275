/**
 * Regenerates test/fixtures/NAME.tar.gz: boots a topology and has iommuctl snapshot the guest,
 * so every fixture comes from a real kernel. Kept as the tarball the tool wrote, since git would
 * drop the empty directories (built-in modules, idle drivers) that a tree holds.
 * Usage: npm run fixtures [-- NAMES...]
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {REPO, explain, runInGuest} from './harness.js'
import {TopologyName} from './topologies.js'

const FIXTURES = path.join(REPO, 'test/fixtures')

/** Each fixture: the topology it boots, and whether the snapshot runs as an unprivileged user. */
const FIXTURE_SPECS: Record<string, {topology: TopologyName; user?: 'nobody'}> = {
  intel: {topology: 'intel'},
  virtio: {topology: 'virtio'},
  amd: {topology: 'amd'},
  none: {topology: 'none'},
  // As a non-root user the kernel cuts config space to 64 bytes and hides ACPI tables.
  'intel-nonroot': {topology: 'intel', user: 'nobody'},
}

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(FIXTURE_SPECS)

for (const name of names) {
  const spec = FIXTURE_SPECS[name]
  if (!spec) throw new Error(`unknown fixture ${name}; known: ${Object.keys(FIXTURE_SPECS).join(', ')}`)
  const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-fixture-'))
  try {
    const snapshot = `node bin/run.js snapshot -o /run/tmp/${name}.tar.gz`
    const asUser = spec.user
      ? `setpriv --reuid=${spec.user} --regid=nogroup --clear-groups ${snapshot}`
      : snapshot
    const r = await runInGuest(spec.topology, {
      command: `${asUser} && cp /run/tmp/${name}.tar.gz /run/share/`,
      shareDir: share,
    })
    if (r.status !== 0) {
      console.error(`${name}: not captured\n${explain(r)}`)
      process.exitCode = 1
      continue
    }
    const dest = path.join(FIXTURES, `${name}.tar.gz`)
    fs.copyFileSync(path.join(share, `${name}.tar.gz`), dest)
    console.log(
      `${name}: captured in ${path.relative(REPO, dest)} (${r.seconds.toFixed(1)}s)\n${r.stdout}${r.stderr}`,
    )
  } finally {
    fs.rmSync(share, {recursive: true, force: true})
  }
}
