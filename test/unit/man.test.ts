// The man page `npm run build` writes (dist/man/iommuctl.1, installed by npm from package.json
// "man"), read by the programs that read man pages: groff with every warning on, man-db's
// lexgrog (what whatis and apropos index) and man itself.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {before, describe, it} from 'node:test'

import {REPO, requireBuilt} from '../helpers/cli.js'

const page = path.join(REPO, 'dist/man/iommuctl.1')
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  version: string
  man: string[]
}
const manifest = JSON.parse(fs.readFileSync(path.join(REPO, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<
    string,
    {id: string; hidden?: boolean; summary?: string; flags: Record<string, {helpGroup?: string}>}
  >
}
const missing = (tool: string) => spawnSync(tool, ['--version']).error !== undefined

describe('man page', () => {
  before(() => requireBuilt())

  it('is the page package.json installs', () => {
    assert.deepEqual(pkg.man, ['./dist/man/iommuctl.1'])
    assert.ok(fs.existsSync(page), `${page} is written by npm run build`)
  })

  it('passes groff with every warning enabled', (t) => {
    if (missing('groff')) return t.skip('groff is not installed (man-db depends on it)')
    const r = spawnSync('groff', ['-man', '-ww', '-z', page], {encoding: 'utf8'})
    assert.equal(r.status, 0)
    assert.equal(r.stderr, '')
  })

  it('has the NAME line whatis and apropos index', (t) => {
    if (missing('lexgrog')) return t.skip("lexgrog is not installed (man-db's)")
    const out = execFileSync('lexgrog', [page], {encoding: 'utf8'})
    assert.match(out, /: "iommuctl - inspect and configure Linux IOMMU domains/)
  })

  it('documents every command with its summary and flags, as man renders it', (t) => {
    if (missing('man')) return t.skip('man is not installed (man-db)')
    const text = execFileSync('man', ['-l', page], {
      encoding: 'utf8',
      env: {...process.env, MANWIDTH: '400', LC_ALL: 'C'},
    })
    assert.match(text, new RegExp(`iommuctl ${pkg.version.replaceAll('.', '\\.')}`))
    const headings = new Set(
      text
        .split('\n')
        .filter((l) => /^ {3}iommuctl /.test(l))
        .map((l) =>
          l
            .trim()
            .split(' ')
            .filter((w) => /^[a-z-]+$/.test(w))
            .join(' '),
        ),
    )
    for (const c of Object.values(manifest.commands).filter((c) => !c.hidden)) {
      const words = ['iommuctl', ...c.id.split(':')].join(' ')
      assert.ok(headings.has(words), `a section for ${words}`)
      // man joins the summary's lines; its first words are enough to find it.
      const start = (c.summary ?? '').split(' ').slice(0, 5).join(' ')
      assert.ok(text.replaceAll(/\s+/g, ' ').includes(start), `the summary of ${words}: ${start}`)
    }
    for (const flag of Object.entries(manifest.commands['devices:bind']!.flags)) {
      if (flag[1].helpGroup !== 'GLOBAL') assert.match(text, new RegExp(`--${flag[0]}\\b`))
    }
    for (const code of ['0', '1', '2', '3', '4']) assert.match(text, new RegExp(`^ {7}${code}\\s`, 'm'))
  })
})
