#!/usr/bin/env node
// Fails when oclif.manifest.json or the README's command reference is stale: regenerates both
// from the built commands and compares them with the versions git has staged or committed.
import {execFileSync} from 'node:child_process'

const run = (cmd, args) => execFileSync(cmd, args, {stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8'})
run('npx', ['oclif', 'manifest'])
run('npx', ['oclif', 'readme', '--no-aliases'])
const stale = run('git', ['diff', '--name-only', '--', 'oclif.manifest.json', 'README.md']).trim()
if (stale) {
  console.error(`Generated files are stale: ${stale.split('\n').join(', ')}.`)
  console.error('They have been regenerated in the work tree; review and commit them.')
  process.exit(1)
}
console.log('oclif.manifest.json and the README command reference are current.')
