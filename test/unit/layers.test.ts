import assert from 'node:assert/strict'
import * as path from 'node:path'
import {describe, it} from 'node:test'

import {ESLint} from 'eslint'

// The layer rules of DESIGN.md, as eslint.config.js enforces them: each snippet is linted as if
// it were the named file, and must (or must not) be refused with the layer's message.
const repo = path.resolve('.')
const eslint = new ESLint({cwd: repo, overrideConfigFile: path.join(repo, 'eslint.config.js')})
const LAYER_RULES = new Set(['no-restricted-imports', 'no-restricted-syntax'])

async function refusals(filePath: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, {filePath: path.join(repo, filePath)})
  assert.ok(result, `no lint result for ${filePath}`)
  assert.equal(result.fatalErrorCount, 0, JSON.stringify(result.messages))
  return result.messages.filter((m) => m.ruleId !== null && LAYER_RULES.has(m.ruleId)).map((m) => m.message)
}

const imports = (spec: string) => `import {x} from '${spec}'\nexport {x}\n`
const typeImports = (spec: string) => `import type {X} from '${spec}'\nexport type {X}\n`
const dynamic = (spec: string) => `export const load = () => import('${spec}')\n`

async function refused(filePath: string, text: string, message: RegExp) {
  const got = await refusals(filePath, text)
  assert.equal(got.length, 1, `${filePath}: ${text}\n${JSON.stringify(got)}`)
  assert.match(got[0]!, message)
}

async function allowed(filePath: string, text: string) {
  assert.deepEqual(await refusals(filePath, text), [], `${filePath}: ${text}`)
}

describe('eslint: layer rules', () => {
  it('are applied to every tree that is linted (bench/ included), none ignored', async () => {
    for (const f of [
      'src/x.ts',
      'bench/x.js',
      'bench/x.ts',
      'test/unit/x.test.ts',
      'scripts/x.js',
      'bin/x.js',
    ]) {
      assert.equal(await eslint.isPathIgnored(path.join(repo, f)), false, f)
    }
  })

  it('refuse src/native/ in commands: static, type-only and dynamic, at any depth', async () => {
    const message = /Commands never import src\/native\//
    await refused('src/commands/status.ts', imports('../native/libc.js'), message)
    await refused('src/commands/domains/map.ts', imports('../../native/mapping.js'), message)
    await refused('src/commands/domains/map.ts', typeImports('../../native/uapi/iommufd.js'), message)
    await refused('src/commands/hw-info.ts', dynamic('../native/socket.js'), message)
    await refused('src/commands/x.ts', `export * from '../native/errors.js'\n`, message)
    await allowed('src/commands/hw-info.ts', imports('../model/hwinfo.js'))
    await allowed('src/commands/domains/map.ts', imports('../../iommufd/iommufd.js'))
  })

  it('refuse ffi-rs outside src/native/, in src, bench, tests and scripts', async () => {
    const message = /Only src\/native\/ imports ffi-rs/
    for (const f of ['src/model/probe.ts', 'src/commands/probe.ts', 'bench/map.ts', 'bench/inspect.js']) {
      await refused(f, imports('ffi-rs'), message)
    }
    await refused('test/unit/x.test.ts', dynamic('ffi-rs'), message)
    await refused('scripts/x.js', imports('ffi-rs'), message)
    await allowed('src/native/libc.ts', imports('ffi-rs'))
    await allowed('src/native/uapi/x.ts', typeImports('ffi-rs'))
  })

  it('keep src/decode/ pure: other decoders and records only, no files', async () => {
    const message = /src\/decode\/ is pure/
    await refused('src/decode/vtd.ts', imports('../sysfs/root.js'), message)
    await refused('src/decode/vtd.ts', imports('../native/libc.js'), message)
    await refused('src/decode/pcie.ts', imports('../model/devices.js'), message)
    await refused('src/decode/pcie.ts', imports('node:fs'), message)
    await allowed('src/decode/vtd.ts', imports('../records.js'))
    await allowed('src/decode/vtd.ts', imports('./pcie.js'))
  })

  it('keep src/render/ apart from sysfs and the kernel, and tables and colours inside it', async () => {
    const message = /src\/render\/ renders records/
    await refused('src/render/groups.ts', imports('../sysfs/root.js'), message)
    await refused('src/render/hwinfo.ts', imports('../native/uapi/iommufd.js'), message)
    await refused('src/render/hwinfo.ts', imports('../iommufd/iommufd.js'), message)
    await allowed('src/render/groups.ts', typeImports('../model/groups.js'))
    await allowed('src/render/style.ts', imports('chalk'))
    await refused('src/model/groups.ts', imports('chalk'), /Only src\/render\/ imports chalk/)
    await refused('src/commands/groups/index.ts', imports('cli-table3'), /Only src\/render\/ imports chalk/)
  })

  it('keep src/sysfs/ read-only, and commands the top layer', async () => {
    await refused('src/sysfs/pci.ts', imports('../native/libc.js'), /src\/sysfs\/ only reads a root/)
    await refused('src/sysfs/pci.ts', imports('../configure/mover.js'), /src\/sysfs\/ only reads a root/)
    await allowed('src/sysfs/pci.ts', imports('../vfio/driver.js'))
    await refused('src/model/status.ts', imports('../commands/status.js'), /Nothing imports src\/commands\//)
    await refused('src/session/apply.ts', dynamic('../commands/apply.js'), /Nothing imports src\/commands\//)
    await allowed('src/commands/devices/index.ts', imports('../../base-command.js'))
  })

  it('keep unit and fixture test files fit to share a process: no process.env, cwd or handlers', async () => {
    const shared = /may share one process/
    for (const file of ['test/unit/x.test.ts', 'test/fixture/x.test.ts']) {
      await refused(file, `process.env.IOMMUCTL_X = '1'\n`, shared)
      await refused(file, `delete process.env.HOME\n`, shared)
      await refused(file, `Object.assign(process.env, {A: '1'})\n`, shared)
      await refused(file, `process.env = {}\n`, shared)
      await refused(file, `process.chdir('/')\n`, shared)
      await refused(file, `process.on('exit', () => undefined)\n`, shared)
      await refused(file, `process.once('SIGTERM', () => undefined)\n`, shared)
      // Reading the environment, and a child's own env, are fine.
      await allowed(file, `export const tier = process.env.IOMMUCTL_TEST_TIER\n`)
      await allowed(file, `export const env = {...process.env, A: '1'}\n`)
    }
    // The VM tier and the helpers run one file to a process.
    await allowed('test/vm/x.test.ts', `process.on('exit', () => undefined)\n`)
    await allowed('test/helpers/x.ts', `process.once('exit', () => undefined)\n`)
  })
})
