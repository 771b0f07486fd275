#!/usr/bin/env node
// Fails when a generated file is stale: oclif.manifest.json, the README's command reference,
// or the JSON Schemas in schemas/. Regenerates them from the built commands and the source
// types, and compares them with the versions git has staged or committed.
import {execFileSync} from 'node:child_process'

const run = (cmd, args) => execFileSync(cmd, args, {stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8'})
run('node', ['scripts/manifest.js'])
run('npx', ['oclif', 'readme', '--no-aliases'])
run('node', ['scripts/schemas.js'])
const stale = run('git', ['diff', '--name-only', '--', 'oclif.manifest.json', 'README.md', 'schemas']).trim()
if (stale) {
  console.error(`Generated files are stale: ${stale.split('\n').join(', ')}.`)
  console.error('They have been regenerated in the work tree; review and commit them.')
  process.exit(1)
}
console.log('oclif.manifest.json, the README command reference and schemas/ are current.')
