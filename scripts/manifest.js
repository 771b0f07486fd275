#!/usr/bin/env node
// Writes oclif.manifest.json with its commands sorted by id. oclif lists them in the order it
// happens to find the files, which differs from run to run once there are enough of them, and a
// committed file that changes order by itself would make `npm run check:generated` flaky.
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'

execFileSync('npx', ['oclif', 'manifest'], {stdio: ['ignore', 'ignore', 'inherit']})
const file = 'oclif.manifest.json'
const manifest = JSON.parse(fs.readFileSync(file, 'utf8'))
const ids = Object.keys(manifest.commands).sort()
manifest.commands = Object.fromEntries(ids.map((id) => [id, manifest.commands[id]]))
fs.writeFileSync(file, JSON.stringify(manifest, null, 2) + '\n')
console.log(`wrote ${file} (${ids.length} commands)`)
