import * as zlib from 'node:zlib'

import {IommuctlError} from '../errors.js'
import {Root} from './root.js'

/** A kernel configuration is some 300 KB; what unpacks to more is not one (a bomb, in a snapshot). */
const MAX_CONFIG = 16 * 1024 * 1024

/**
 * The running kernel's build configuration, from /proc/config.gz (CONFIG_IKCONFIG_PROC) or
 * else /boot/config-RELEASE as distributions install it. Null when neither is there.
 */
export function kernelConfig(root: Root): {source: string; options: Map<string, string>} | null {
  const gz = root.readBytes('/proc/config.gz')
  if (gz) return {source: '/proc/config.gz', options: parse(gunzip(gz).toString('utf8'))}
  const release = root.readText('/proc/sys/kernel/osrelease')
  const boot = release ? root.readText(`/boot/config-${release}`) : null
  return boot && release ? {source: `/boot/config-${release}`, options: parse(boot)} : null
}

function gunzip(gz: Buffer): Buffer {
  try {
    return zlib.gunzipSync(gz, {maxOutputLength: MAX_CONFIG})
  } catch (error) {
    throw new IommuctlError(
      'BAD_KERNEL_CONFIG',
      `/proc/config.gz does not unpack to a kernel configuration of at most ${MAX_CONFIG} bytes: ${(error as Error).message}`,
      {path: '/proc/config.gz'},
    )
  }
}

function parse(text: string): Map<string, string> {
  const options = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line)
    if (m) options.set(m[1]!, m[2]!)
  }
  return options
}

/** Whether a module is loaded (listed in /proc/modules), built in (a /sys/module entry only) or absent. */
export type ModuleState = 'absent' | 'loaded' | 'built in'

/** The state of each named module, /proc/modules read once. */
export function moduleStates(root: Root, names: readonly string[]): Map<string, ModuleState> {
  const loaded = new Set((root.readText('/proc/modules') ?? '').split('\n').map((l) => l.split(' ')[0]))
  return new Map(
    names.map((m) => [
      m,
      !root.isDirectory(`/sys/module/${m}`) ? 'absent' : loaded.has(m) ? 'loaded' : 'built in',
    ]),
  )
}
