import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {ErrorObject} from 'ajv'

const here = path.dirname(fileURLToPath(import.meta.url))

export type Validate = (data: unknown) => ErrorObject | null

interface Schema {
  $ref?: string
  definitions: Record<string, {anyOf?: {properties?: {op?: {const?: string}}}[]}>
}

/**
 * Validators for one of the repository's generated schemas (schemas/NAME.json), whole or a part of
 * it with its definitions: what the tests check outputs against is what plans and session requests
 * are checked against at run time. Each returns the first error, or null when the data is valid.
 */
export async function schemaValidators(
  name: string,
): Promise<{schema: Schema; compile(part?: object): Validate}> {
  const {Ajv} = await import('ajv')
  const schema = JSON.parse(fs.readFileSync(path.join(here, `../../schemas/${name}.json`), 'utf8')) as Schema
  const ajv = new Ajv({strict: false})
  return {
    schema,
    compile(part) {
      const validate = ajv.compile(part ? {definitions: schema.definitions, ...part} : schema)
      return (data) => (validate(data) ? null : validate.errors![0]!)
    },
  }
}

/** A schema error in the plan's words: where (maps[1].size, under root) and what is wrong with it. */
export function schemaProblem(e: ErrorObject, root: string): {where: string; message: string} {
  const where = [
    root,
    ...e.instancePath
      .split('/')
      .slice(1)
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)),
  ]
    .join('')
    .replace(/^\./, '')
  const extra =
    e.keyword === 'additionalProperties'
      ? ` (${(e.params as {additionalProperty: string}).additionalProperty})`
      : e.keyword === 'enum'
        ? `: one of ${(e.params as {allowedValues: unknown[]}).allowedValues.join(', ')}`
        : ''
  return {where, message: `${e.message}${extra}`}
}
