import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import {ExitCode, IommuctlError} from '../errors.js'
import {BootFile, BootRecord} from '../model/boot.js'
import {notAFile, writeTextFile} from '../output.js'
import {readRegularFile} from '../session/plan.js'

/** The first line of every file install-boot writes: what uninstall-boot (and a reinstall) may replace. */
export const BOOT_MARK =
  '# Installed by `iommuctl host install-boot`; `iommuctl host uninstall-boot` removes it.'

/** The path the contrib/ files name iommuctl by, replaced with the one install-boot ran as. */
const CONTRIB_BIN = '/usr/local/bin/iommuctl'

/** contrib/ file, and the directory under --prefix it goes to. */
const BOOT_FILES = [
  ['iommuctl-host.service', 'systemd/system'],
  ['iommuctl-host-device@.service', 'systemd/system'],
  ['99-iommuctl.rules', 'udev/rules.d'],
] as const

export interface BootOptions {
  /** Everything goes under this directory (as systemctl --root). */
  rootDir: string
  /** Where under it: /etc (systemd/system, udev/rules.d below it), or /usr/lib for a package. */
  prefix: string
  force: boolean
}

const KIND = {what: 'the boot unit', suggestion: 'Run it as root, or give --root-dir.'}

function targets(opts: BootOptions): {name: string; file: string}[] {
  return BOOT_FILES.map(([name, dir]) => ({name, file: path.join(opts.rootDir, opts.prefix, dir, name)}))
}

/** The file there: null when absent; refused when it is not a regular file. */
function existing(file: string): string | null {
  if (!fs.lstatSync(file, {throwIfNoEntry: false})) return null
  const why = notAFile(file)
  if (why !== null) {
    throw new IommuctlError('OUTPUT_NOT_FILE', `${file} is ${why}; nothing was changed.`, {
      exit: ExitCode.usage,
      path: file,
      suggestion: 'Remove it yourself if it should go.',
    })
  }
  return readRegularFile(file, 1 << 16, {code: 'OUTPUT_NOT_FILE', name: 'The file', suggestion: ''}).toString(
    'utf8',
  )
}

function foreign(file: string, doing: string): IommuctlError {
  return new IommuctlError('OUTPUT_EXISTS', `${file} was not installed by iommuctl; nothing was ${doing}.`, {
    exit: ExitCode.usage,
    path: file,
    suggestion: 'Pass --force to replace it, or move it away first.',
  })
}

/** Writes the unit, the hot-plug unit and the udev rule from contrib/, naming this package's bin/run.js. */
export async function installBoot(opts: BootOptions): Promise<BootRecord> {
  const contrib = fileURLToPath(new URL('../../contrib/', import.meta.url))
  // This package's own bin/run.js (what npm's /usr/local/bin/iommuctl links to).
  const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
  const plan = targets(opts).map(({name, file}) => {
    const text = `${BOOT_MARK}\n${fs.readFileSync(path.join(contrib, name), 'utf8').replaceAll(CONTRIB_BIN, bin)}`
    const now = existing(file)
    if (now !== null && now !== text && !now.startsWith(BOOT_MARK) && !opts.force)
      throw foreign(file, 'written')
    return {file, text, same: now === text}
  })
  const files: BootFile[] = []
  for (const p of plan) {
    if (!p.same) {
      fs.mkdirSync(path.dirname(p.file), {recursive: true, mode: 0o755})
      await writeTextFile(p.file, p.text, {force: true, kind: KIND})
    }
    files.push({path: p.file, status: p.same ? 'unchanged' : 'written'})
  }
  const root = opts.rootDir === '/' ? '' : ` --root=${opts.rootDir}`
  return {
    action: 'install',
    files,
    next: `systemctl${root} daemon-reload; systemctl${root} enable iommuctl-host.service; udevadm control --reload`,
  }
}

/** Removes what installBoot wrote (the files that start with its mark). */
export function uninstallBoot(opts: BootOptions): BootRecord {
  const found = targets(opts).map(({file}) => ({file, text: existing(file)}))
  for (const f of found)
    if (f.text !== null && !f.text.startsWith(BOOT_MARK) && !opts.force) throw foreign(f.file, 'removed')
  const files = found.map(({file, text}): BootFile => {
    if (text === null) return {path: file, status: 'absent'}
    fs.rmSync(file)
    return {path: file, status: 'removed'}
  })
  const root = opts.rootDir === '/' ? '' : ` --root=${opts.rootDir}`
  return {
    action: 'uninstall',
    files,
    next: `systemctl${root} disable iommuctl-host.service; systemctl${root} daemon-reload; udevadm control --reload`,
  }
}
