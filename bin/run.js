#!/usr/bin/env node
// `iommuctl --version` prints what oclif prints for it (Config.userAgent, written by main.run
// when the first argument is --version), without loading oclif: loading @oclif/core and its
// config took about 60 ms of the 110 ms this command took (bench/startup.js). Only where the
// answer is certain: on Linux, away from WSL (oclif names that platform "wsl", as wsl-utils
// decides); anywhere else oclif answers. test/fixture/cli.test.ts compares the two byte for byte.
async function versionWithoutOclif() {
  if (process.argv[2] !== '--version' || process.platform !== 'linux') return false
  const {existsSync, readFileSync} = await import('node:fs')
  const {arch, release} = await import('node:os')
  const mentionsWsl = (text) => text.toLowerCase().includes('microsoft')
  let procVersion = ''
  try {
    procVersion = readFileSync('/proc/version', 'utf8')
  } catch {
    // as wsl-utils: unreadable is not WSL
  }
  const wsl =
    mentionsWsl(release()) ||
    mentionsWsl(procVersion) ||
    existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') ||
    existsSync('/run/WSL')
  if (wsl) return false
  const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  const cpu = arch() === 'ia32' ? 'x86' : arch()
  process.stdout.write(`${pjson.name}/${pjson.version || '0.0.0'} linux-${cpu} node-${process.version}\n`)
  return true
}

if (!(await versionWithoutOclif())) {
  // @oclif/core checks its own engines range with semver as it is imported, which loads some 50
  // modules: 4-6 ms of every start (bench/startup.js). Skip it, and leave the environment
  // that commands and their children (apply --exec) see as it was.
  const engineWarning = process.env.OCLIF_DISABLE_ENGINE_WARNING
  process.env.OCLIF_DISABLE_ENGINE_WARNING = 'true'
  const {execute} = await import('@oclif/core')
  if (engineWarning === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
  else process.env.OCLIF_DISABLE_ENGINE_WARNING = engineWarning

  await execute({dir: import.meta.url})
}
