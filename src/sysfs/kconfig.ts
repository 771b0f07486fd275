import * as zlib from 'node:zlib'

import {Root} from './root.js'

/**
 * The running kernel's build configuration, from /proc/config.gz (CONFIG_IKCONFIG_PROC) or
 * else /boot/config-RELEASE as distributions install it. Null when neither is there.
 */
export function kernelConfig(root: Root): {source: string; options: Map<string, string>} | null {
  const gz = root.readBytes('/proc/config.gz')
  if (gz) return {source: '/proc/config.gz', options: parse(zlib.gunzipSync(gz).toString('utf8'))}
  const release = root.readText('/proc/sys/kernel/osrelease')
  const boot = release ? root.readText(`/boot/config-${release}`) : null
  return boot && release ? {source: `/boot/config-${release}`, options: parse(boot)} : null
}

function parse(text: string): Map<string, string> {
  const options = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line)
    if (m) options.set(m[1]!, m[2]!)
  }
  return options
}
