import {Ajv, ValidateFunction} from 'ajv'
import formats from 'ajv-formats'
import * as fs from 'node:fs'
import * as path from 'node:path'
import assert from 'node:assert/strict'

import {REPO} from './cli.js'

const ajv = new Ajv({allErrors: true, strict: true})
// ajv-formats is CommonJS: its function is the default export's default.
formats.default(ajv)
const cache = new Map<string, ValidateFunction>()

/** Asserts that a command's real JSON output matches the schema kept in schemas/NAME.json. */
export function assertMatchesSchema(name: string, data: unknown): void {
  let validate = cache.get(name)
  if (!validate) {
    const schema = JSON.parse(fs.readFileSync(path.join(REPO, 'schemas', `${name}.json`), 'utf8'))
    validate = ajv.compile(schema)
    cache.set(name, validate)
  }
  const ok = validate(data)
  assert.ok(
    ok,
    `output does not match schemas/${name}.json: ${ajv.errorsText(validate.errors)}\n` +
      `output: ${JSON.stringify(data).slice(0, 2000)}`,
  )
}
