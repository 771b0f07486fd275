import * as fs from 'node:fs'
import {createRequire} from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import type * as Tar from 'tar'

import {ExitCode, IommuctlError} from './errors.js'
import {Root} from './sysfs/root.js'

/** Directories whose presence makes a tree look like a Linux host's /sys. */
const SYSFS_MARKERS = ['bus', 'class', 'devices', 'kernel']

/**
 * Opens what `--root` names: a directory (a host's /, a snapshot directory) or a snapshot
 * .tar.gz, which is unpacked into a private temporary directory removed at exit.
 */
export function openRoot(arg: string): Root {
  const resolved = path.resolve(arg)
  let st: fs.Stats
  try {
    st = fs.statSync(resolved)
  } catch {
    throw badRoot(arg, `${arg} does not exist`)
  }
  const dir = st.isFile() && /\.(tar\.gz|tgz)$/.test(resolved) ? unpack(resolved) : resolved
  if (!fs.statSync(dir).isDirectory()) {
    throw badRoot(arg, `${arg} is neither a directory nor a snapshot .tar.gz`)
  }
  const sys = path.join(dir, 'sys')
  const markers = SYSFS_MARKERS.filter((m) => fs.existsSync(path.join(sys, m)))
  if (markers.length === 0) {
    throw badRoot(
      arg,
      `${arg} is not a sysfs-like tree: ${path.join(arg, 'sys')} has none of ${SYSFS_MARKERS.join(', ')}`,
    )
  }
  try {
    return new Root(dir, resolved)
  } catch (error) {
    throw badRoot(arg, `${arg} has an unreadable snapshot manifest: ${(error as Error).message}`)
  }
}

function badRoot(arg: string, message: string): IommuctlError {
  return new IommuctlError('BAD_ROOT', message, {
    exit: ExitCode.usage,
    path: arg,
    suggestion:
      'Give --root a host root (default /), a snapshot directory, or a .tar.gz made by `iommuctl snapshot`.',
  })
}

function unpack(file: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-root-'))
  process.once('exit', () => fs.rmSync(dir, {recursive: true, force: true}))
  // Loaded here, not at the top: tar costs about 10 ms of start-up that a directory root never needs.
  const tar = createRequire(import.meta.url)('tar') as typeof Tar
  try {
    tar.x({file, cwd: dir, sync: true, strict: true})
  } catch (error) {
    throw badRoot(file, `${file} could not be unpacked: ${(error as Error).message}`)
  }
  return dir
}
