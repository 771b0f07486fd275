// The CLI helper runs dist/ (test/helpers/cli.ts): a dist/ older than src/ would test yesterday's
// code and pass, so the helper refuses it, naming the source file and the command that fixes it.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {fixtureTree, iommuctl, requireBuilt, staleDist} from '../helpers/cli.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-cli-helper-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

/** A checkout with src/a.ts and src/sub/b.ts, built at `builtAt` and edited at `editedAt`. */
function checkout(name: string, builtAt: number, editedAt: number, built = ['a.js', 'sub/b.js']): string {
  const repo = path.join(tmp, name)
  for (const [dir, files, when] of [
    ['src', ['a.ts', 'sub/b.ts'], editedAt],
    ['dist', built, builtAt],
  ] as const) {
    for (const f of files) {
      const p = path.join(repo, dir, f)
      fs.mkdirSync(path.dirname(p), {recursive: true})
      fs.writeFileSync(p, '')
      fs.utimesSync(p, when, when)
    }
  }
  return repo
}

describe('the CLI helper never runs a stale dist/', () => {
  it('a source edited after the build: refused, naming the file and npm run build', () => {
    const repo = checkout('stale', 1_000, 1_000)
    fs.utimesSync(path.join(repo, 'src/sub/b.ts'), 2_000, 2_000)
    assert.throws(() => requireBuilt(repo), {
      message: 'dist/ is older than src/sub/b.ts: run npm run build',
    })
  })

  it('a source never built: refused, naming it', () => {
    const repo = checkout('unbuilt', 2_000, 1_000, ['a.js'])
    assert.equal(staleDist(repo), 'dist/ is missing the build of src/sub/b.ts: run npm run build')
    assert.throws(() => requireBuilt(repo), /missing the build of src\/sub\/b\.ts/)
  })

  it('a build newer than every source: runs', () => {
    const repo = checkout('fresh', 2_000, 1_000)
    assert.equal(staleDist(repo), null)
    assert.doesNotThrow(() => requireBuilt(repo))
  })
})

describe('the CLI worker runs each command as a fresh process would', () => {
  it('a command after a --help in the same worker still finds its command', async () => {
    // oclif's run() rebuilt its Config from the one the worker kept, and after a --help run it
    // answered "command devices:restore not found" (found when test files shared a worker).
    const help = await iommuctl(['devices', 'restore', '--help'])
    assert.equal(help.status, 0, help.stderr)
    const r = await iommuctl(['devices', '--root', fixtureTree('intel'), '--json'])
    assert.equal(r.status, 0, r.stderr)
    assert.ok(JSON.parse(r.stdout).length > 0)
    const again = await iommuctl(['devices', 'restore', '--help'])
    assert.equal(again.stdout, help.stdout)
  })
})
