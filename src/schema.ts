import * as fs from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

import type {ErrorObject} from 'ajv'

export type Validate = (data: unknown) => ErrorObject | null

/** The schemas read at run time: a snapshot's manifest, a journal, a plan, a session request. */
export const RUNTIME_SCHEMAS = ['manifest', 'journal', 'plan', 'session-request', 'host-config'] as const
export type RuntimeSchema = (typeof RUNTIME_SCHEMAS)[number]

interface Schema {
  $ref?: string
  definitions: Record<string, {anyOf?: {properties?: {op?: {const?: string}}}[]}>
}

/** The options validators are compiled with, at build time and at run time alike. */
export const AJV_OPTIONS = {strict: false} as const

/**
 * The parts of a schema that are checked on their own, by key: a union of requests, one branch per
 * op (so that an error is about that op's fields, not the first of the whole union's). Each part
 * carries the schema's definitions, so it stands alone.
 */
export function schemaParts(schema: Schema): Map<string, object> {
  const union = schema.$ref ? schema.definitions[schema.$ref.replace('#/definitions/', '')]?.anyOf : undefined
  const parts = new Map<string, object>()
  for (const branch of union ?? []) {
    const op = branch.properties?.op?.const
    if (op !== undefined) parts.set(op, {definitions: schema.definitions, ...branch})
  }
  return parts
}

export interface Validators {
  /** The whole schema: returns the first error, or null. */
  whole: Validate
  /** Its parts (schemaParts), by key. */
  parts: Map<string, Validate>
}

/** A compiled validator, as ajv makes it and as its standalone code exports it. */
type Compiled = ((data: unknown) => boolean) & {errors?: ErrorObject[] | null}

/** What scripts/validators.js writes to dist/validators/NAME.cjs: ajv's standalone code. */
export interface StandaloneModule {
  whole: Compiled
  parts: Record<string, Compiled>
}

const firstError =
  (validate: Compiled): Validate =>
  (data) =>
    validate(data) ? null : validate.errors![0]!

const loaded = new Map<RuntimeSchema, Validators>()

/**
 * Validators for one of the repository's generated schemas (schemas/NAME.json): what the tests
 * check outputs against is what snapshot manifests, journals, plans and session requests are
 * checked against at run time. The one loader of them all; synchronous, since a Root and a
 * journal are read synchronously. The build compiles them ahead (scripts/validators.js, ajv's
 * standalone code in dist/validators/): compiling the manifest's schema was about a quarter of a
 * command's CPU on a snapshot. From the sources (bin/dev.js, unit tests) there are none, and ajv
 * compiles the same schema with the same options on the first call.
 */
export function schemaValidators(name: RuntimeSchema): Validators {
  const known = loaded.get(name)
  if (known) return known
  const require = createRequire(import.meta.url)
  const built = new URL(`./validators/${name}.cjs`, import.meta.url)
  const compiled = fs.existsSync(built)
    ? (require(fileURLToPath(built)) as StandaloneModule)
    : compileNow(name)
  const validators: Validators = {
    whole: firstError(compiled.whole),
    parts: new Map(Object.entries(compiled.parts).map(([key, v]) => [key, firstError(v)])),
  }
  loaded.set(name, validators)
  return validators
}

function compileNow(name: RuntimeSchema): StandaloneModule {
  const {Ajv} = createRequire(import.meta.url)('ajv') as typeof import('ajv')
  const text = fs.readFileSync(new URL(`../schemas/${name}.json`, import.meta.url), 'utf8')
  const schema = JSON.parse(text) as Schema
  // One Ajv per schema: each has its own $id, and parts are compiled beside the whole.
  const ajv = new Ajv(AJV_OPTIONS)
  return {
    whole: ajv.compile(schema),
    parts: Object.fromEntries([...schemaParts(schema)].map(([key, part]) => [key, ajv.compile(part)])),
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
