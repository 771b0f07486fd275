#!/usr/bin/env node
// Writes dist/man/iommuctl.1 from oclif.manifest.json (src/render/man.ts): run by `npm run
// build` after the manifest, and installed by npm with the package (package.json "man").
import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import {manPage} from '../dist/render/man.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'))
const manifest = JSON.parse(fs.readFileSync(path.join(repo, 'oclif.manifest.json'), 'utf8'))
const out = path.join(repo, 'dist/man', `${pkg.oclif.bin}.1`)
fs.mkdirSync(path.dirname(out), {recursive: true})
fs.writeFileSync(out, manPage(pkg.oclif.bin, pkg.version, pkg.description, Object.values(manifest.commands)))
console.log(`wrote ${path.relative(repo, out)}`)
