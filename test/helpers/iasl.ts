import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import {REPO} from './cli.js'

/** Real machines' tables, never copied into the repository (../shared/realdata/README.md). */
export const ACPI_REALDATA = path.join(REPO, '../shared/realdata/acpi')

/** Why the real-data tests cannot run here, or null when they can. */
export function realdataMissing(): string | null {
  return fs.existsSync(path.join(ACPI_REALDATA, 'curated'))
    ? null
    : `${ACPI_REALDATA} is absent: the real DMAR/IVRS tables live outside the repository`
}

export function iaslMissing(): string | null {
  try {
    execFileSync('iasl', ['-v'], {stdio: 'ignore'})
    return null
  } catch {
    return 'iasl (acpica-tools) is not installed: test/vm/setup-host.sh installs it'
  }
}

/** One line of an iasl disassembly: `[OFFh DEC LEN] Name : value`. */
export interface IaslField {
  offset: number
  length: number
  name: string
  value: string
}

const FIELD = /^\[([0-9A-F]+)h (\d+) +([0-9A-F]+h|\d+)\]\s+(.*?) : (.*)$/

export interface IaslDecode {
  /** Every field iasl printed, by table offset (a field iasl decodes into bits stays one field). */
  fields: Map<number, IaslField[]>
  /**
   * Where iasl gave up on a structure it does not know ("**** Unknown ... subtable type"): the
   * offset of the last structure it started before saying so. The iasl in Debian predates SATC
   * and IVHD 11h/40h, so it skips what they hold.
   */
  unknownAfter: number[]
}

export function parseIasl(text: string): IaslDecode {
  const out = new Map<number, IaslField[]>()
  const unknownAfter: number[] = []
  let lastStart = -1
  for (const line of text.split('\n')) {
    if (/^\*\*\*\* Unknown .*type/.test(line)) unknownAfter.push(lastStart)
    const m = FIELD.exec(line.trimEnd())
    if (!m?.[1] || !m[3] || !m[4] || m[5] === undefined) continue
    const offset = Number.parseInt(m[1], 16)
    const length = m[3].endsWith('h') ? Number.parseInt(m[3], 16) : Number.parseInt(m[3], 10)
    const field = {offset, length, name: m[4].trim(), value: m[5].trim()}
    if (/^(Subtable|Entry) Type$/.test(field.name)) lastStart = offset
    const list = out.get(offset) ?? []
    list.push(field)
    out.set(offset, list)
  }
  return {fields: out, unknownAfter}
}

let iaslVersion: string | undefined

/**
 * iasl's own decode of a table: `iasl -d` on a copy in a temporary directory. Its output is kept
 * outside the repository (XDG_CACHE_HOME or ~/.cache, iommuctl-iasl/), keyed by the sha256 of
 * the table and of iasl's version banner, so iasl stays the reference while a second run does not
 * disassemble 422 tables again; IOMMUCTL_IASL_CACHE=0 turns that off.
 */
export function iaslDecode(table: Buffer, signature: string): string {
  iaslVersion ??= execFileSync('iasl', ['-v'], {encoding: 'utf8'})
  const cacheDir =
    process.env.IOMMUCTL_IASL_CACHE === '0'
      ? null
      : path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'iommuctl-iasl')
  const key = createHash('sha256').update(iaslVersion).update('\0').update(table).digest('hex')
  const cached = cacheDir && path.join(cacheDir, `${key}.dsl`)
  if (cached && fs.existsSync(cached)) return fs.readFileSync(cached, 'utf8')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-iasl-'))
  try {
    const file = path.join(dir, `${signature.toLowerCase()}.dat`)
    fs.writeFileSync(file, table)
    execFileSync('iasl', ['-d', file], {cwd: dir, stdio: 'ignore'})
    const text = fs.readFileSync(path.join(dir, `${signature.toLowerCase()}.dsl`), 'utf8')
    if (cached) {
      // Written whole, then renamed: a run killed halfway leaves no partial entry.
      fs.mkdirSync(cacheDir, {recursive: true})
      fs.writeFileSync(`${cached}.${process.pid}`, text)
      fs.renameSync(`${cached}.${process.pid}`, cached)
    }
    return text
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}
