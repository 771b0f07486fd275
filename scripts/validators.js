#!/usr/bin/env node
// Compiles the schemas read at run time (src/schema.ts RUNTIME_SCHEMAS) into ajv's standalone
// code, dist/validators/NAME.cjs, so that a command validates a snapshot manifest, a journal, a
// plan or a session request without loading ajv's compiler or compiling at every start. Run by
// `npm run build`, after tsc: it takes the list, the parts and the options from dist/schema.js,
// so build time and run time (src/schema.ts compileNow, from the sources) cannot differ.
// CommonJS on purpose: ajv's ESM output still calls require() for its runtime helpers
// (ajv-validator/ajv#2209, #2598), and src/schema.ts loads these with createRequire.
import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {Ajv} from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'

import {AJV_OPTIONS, RUNTIME_SCHEMAS, schemaParts} from '../dist/schema.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const out = path.join(repo, 'dist/validators')
fs.mkdirSync(out, {recursive: true})
for (const name of RUNTIME_SCHEMAS) {
  const schema = JSON.parse(fs.readFileSync(path.join(repo, 'schemas', `${name}.json`), 'utf8'))
  const ajv = new Ajv({...AJV_OPTIONS, code: {source: true}})
  ajv.addSchema(schema)
  const exports = {whole: schema.$id}
  const keys = []
  for (const [key, part] of schemaParts(schema)) {
    const id = `${name}/part-${keys.length}.json`
    ajv.addSchema({$id: id, ...part})
    exports[`part${keys.length}`] = id
    keys.push(key)
  }
  const parts = keys.map((key, i) => `${JSON.stringify(key)}: module.exports.part${i}`).join(', ')
  const code = `${standaloneCode.default(ajv, exports)}\nmodule.exports.parts = {${parts}};\n`
  fs.writeFileSync(path.join(out, `${name}.cjs`), code)
}
console.log(`wrote ${RUNTIME_SCHEMAS.length} validators to dist/validators/`)
