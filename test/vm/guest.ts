import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {it} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {explain, REPO, runInGuest, vmUnavailable} from './harness.js'
import {TopologyName} from './topologies.js'

/**
 * `it` for tests that boot a guest. Where QEMU or busybox is missing they are skipped with the
 * reason, except under IOMMUCTL_REQUIRE_VM=1 (set by .ci/run), where that is a failure.
 */
export function vmIt(name: string, fn: () => Promise<void>): void {
  const missing = vmUnavailable()
  if (missing && process.env.IOMMUCTL_REQUIRE_VM !== '1') {
    it(name, {skip: missing}, () => {})
    return
  }
  it(name, async () => {
    if (missing) throw new Error(`the VM tier is required here but cannot run: ${missing}`)
    await fn()
  })
}

/** A shell listing, made in the guest without iommuctl, of what the kernel says about groups. */
export const KERNEL_GROUPS_SH = `for g in /sys/kernel/iommu_groups/*; do [ -d "$g" ] || continue; echo "$(basename $g) $(cat $g/type) $(ls $g/devices | tr '\\n' ' ')"; done`

export interface KernelGroup {
  id: number
  type: string
  devices: string[]
}

export function parseKernelGroups(text: string): KernelGroup[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, type, ...devices] = line.trim().split(/\s+/)
      return {id: Number(id), type: type ?? '', devices}
    })
    .sort((a, b) => a.id - b.id)
}

export interface ScriptRun {
  rc: number
  out: string
  err: string
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>

/** A run's stdout as JSON, once it exited 0 and its output matches schemas/SCHEMA.json. */
export function runJson(r: ScriptRun, schema: string): Json {
  assert.equal(r.rc, 0, `${r.out}\n${r.err}`)
  const o = JSON.parse(r.out)
  assertMatchesSchema(schema, o)
  return o
}

/** A run's JSON error, once it exited with exit and the error matches schemas/error.json and has code. */
export function runError(r: ScriptRun, code: string, exit: number): Json {
  assert.equal(r.rc, exit, `${r.out}\n${r.err}`)
  const o = JSON.parse(r.out)
  assertMatchesSchema('error', o)
  assert.equal(o.error.code, code, o.error.message)
  return o.error
}

/**
 * Boots a guest and runs a shell script in the checkout, where `run NAME CMD...` keeps CMD's
 * stdout, stderr and status under /run/share/TOPOLOGY for the returned reader. Other files the
 * script writes to $dir come back through `file(NAME)`.
 */
export async function runScript(
  topology: TopologyName,
  share: string,
  body: string,
  timeoutMs?: number,
): Promise<((name: string) => ScriptRun) & {file: (name: string) => string}> {
  const dir = `/run/share/${topology}`
  const r = await runInGuest(topology, {
    command: `set -x\ndir=${dir}\nmkdir -p $dir\ncd ${REPO}\nrun() { name=$1; shift; "$@" > $dir/$name.out 2> $dir/$name.err; echo $? > $dir/$name.rc; }\n${body}\ntrue`,
    shareDir: share,
    timeoutMs,
  })
  assert.equal(r.status, 0, explain(r))
  const file = (name: string) => fs.readFileSync(path.join(share, topology, name), 'utf8')
  const read = (name: string) => ({
    rc: Number(file(`${name}.rc`)),
    out: file(`${name}.out`),
    err: file(`${name}.err`),
  })
  return Object.assign(read, {file})
}
