import * as fs from 'node:fs'
import {createRequire} from 'node:module'

import type {ErrorObject} from 'ajv'

export type Validate = (data: unknown) => ErrorObject | null

export interface Schema {
  $ref?: string
  definitions: Record<string, {anyOf?: {properties?: {op?: {const?: string}}}[]}>
}

interface Validators {
  schema: Schema
  /** The whole schema, or a part of it with its definitions; returns the first error, or null. */
  compile(part?: object): Validate
}

const loaded = new Map<string, Validators>()

/**
 * Validators for one of the repository's generated schemas (schemas/NAME.json): what the tests
 * check outputs against is what snapshot manifests, journals, plans and session requests are
 * checked against at run time. The one loader of them all. Synchronous, since a Root and a journal
 * are read synchronously; ajv is loaded on the first call, so a command that validates nothing
 * never loads it. Each schema is read and its whole compiled once per process.
 */
export function schemaValidators(name: string): Validators {
  const known = loaded.get(name)
  if (known) return known
  const {Ajv} = createRequire(import.meta.url)('ajv') as typeof import('ajv')
  const text = fs.readFileSync(new URL(`../schemas/${name}.json`, import.meta.url), 'utf8')
  const schema = JSON.parse(text) as Schema
  // One Ajv per schema: each has its own $id, and parts are compiled beside the whole.
  const ajv = new Ajv({strict: false})
  let whole: Validate | undefined
  const wrap = (part?: object): Validate => {
    const validate = ajv.compile(part ? {definitions: schema.definitions, ...part} : schema)
    return (data) => (validate(data) ? null : validate.errors![0]!)
  }
  const validators: Validators = {
    schema,
    compile: (part) => (part ? wrap(part) : (whole ??= wrap())),
  }
  loaded.set(name, validators)
  return validators
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
