import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {ErrorObject} from 'ajv'

const here = path.dirname(fileURLToPath(import.meta.url))

/**
 * A validator for one of the repository's generated schemas (schemas/NAME.json): what the tests
 * check outputs against is what plans and session requests are checked against at run time.
 * Returns the first error, or null when the data is valid.
 */
export async function schemaValidator(name: string): Promise<(data: unknown) => ErrorObject | null> {
  const {Ajv} = await import('ajv')
  const schema = JSON.parse(fs.readFileSync(path.join(here, `../../schemas/${name}.json`), 'utf8'))
  const validate = new Ajv({strict: false}).compile(schema)
  return (data) => (validate(data) ? null : validate.errors![0]!)
}
