// The completion scripts, run by the real shells: bash completes words as it would at a prompt
// (COMP_WORDS and COMP_CWORD set as readline sets them, the function the script registers
// called), and what it offers is checked against the manifest and against this machine's /sys.
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {bashCompletion, CompletionCommand, zshCompletion} from '../../src/render/completion.js'
import {REPO} from '../helpers/cli.js'

const manifest = JSON.parse(fs.readFileSync(path.join(REPO, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, CompletionCommand>
}
const commands = Object.values(manifest.commands)
const ids = commands.filter((c) => !c.hidden).map((c) => c.id.split(':'))
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-completion-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))
const bashScript = path.join(tmp, 'iommuctl.bash')
fs.writeFileSync(bashScript, bashCompletion('iommuctl', commands))

/** What bash offers after `words` (the last one is the word being completed; '' after a space). */
function complete(words: string[], cwd = tmp): string[] {
  const out = execFileSync(
    'bash',
    [
      '-c',
      'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _iommuctl; printf "%s\\n" "${COMPREPLY[@]}"',
      '_',
      bashScript,
      'iommuctl',
      ...words,
    ],
    {cwd, encoding: 'utf8'},
  )
  return out.split('\n').filter((l) => l !== '')
}

const sorted = (a: Iterable<string>) => [...new Set(a)].sort()

describe('bash completion', () => {
  it('is valid bash and registers itself for iommuctl', () => {
    const out = execFileSync('bash', ['-c', 'source "$1"; complete -p iommuctl', '_', bashScript], {
      encoding: 'utf8',
    })
    assert.equal(out.trim(), 'complete -F _iommuctl iommuctl')
  })

  it('offers every top-level command and topic, and narrows by prefix', () => {
    assert.deepEqual(sorted(complete([''])), sorted(ids.map((p) => p[0]!)))
    assert.deepEqual(complete(['dev']), ['devices'])
    assert.deepEqual(complete(['gr']), ['groups'])
  })

  it("offers a topic's subcommands", () => {
    const expected = sorted(ids.filter((p) => p[0] === 'devices' && p.length === 2).map((p) => p[1]!))
    assert.ok(expected.includes('bind'), 'the manifest has devices bind')
    assert.deepEqual(sorted(complete(['devices', ''])), expected)
    assert.deepEqual(complete(['domains', 'ma']), ['map'])
  })

  it("offers a command's own flags, --help, and --no- for negatable ones", () => {
    const bind = manifest.commands['devices:bind']!
    const expected = sorted([...Object.keys(bind.flags).map((f) => `--${f}`), '--help'])
    assert.deepEqual(sorted(complete(['devices', 'bind', '--'])), expected)
    assert.deepEqual(sorted(complete(['devices', 'bind', '--d'])), ['--driver', '--dry-run'])
  })

  it("completes a flag's listed values, after a space and after =", () => {
    const format = Object.entries(manifest.commands['export']!.flags).find(([n]) => n === 'format')![1]
    assert.equal(format.type, 'option')
    const options = format.type === 'option' ? (format.options ?? []) : []
    assert.ok(options.includes('prometheus'))
    assert.deepEqual(sorted(complete(['export', '--format', ''])), sorted(options))
    // readline splits `--format=p` at the = (COMP_WORDBREAKS): words --format, =, p.
    assert.deepEqual(complete(['export', '--format', '=', 'p']), ['prometheus'])
  })

  it("completes BDF arguments from this machine's /sys/bus/pci/devices", (t) => {
    let bdfs: string[] = []
    try {
      bdfs = fs.readdirSync('/sys/bus/pci/devices')
    } catch {
      // no PCI in this container
    }
    if (bdfs.length === 0) return t.skip('this machine lists no PCI devices in /sys/bus/pci/devices')
    assert.deepEqual(sorted(complete(['devices', 'show', ''])), sorted(bdfs))
    // A flag's value is not an argument: after --root X the first argument is still the BDF.
    assert.deepEqual(sorted(complete(['devices', 'bind', '--root', '/', ''])), sorted(bdfs))
    // devices show takes one BDF: a second word gets nothing.
    assert.deepEqual(complete(['devices', 'show', bdfs[0]!, '']), [])
  })

  it('completes files for a plan, for --root, and nothing after --', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cwd-'))
    fs.writeFileSync(path.join(dir, 'plan.yaml'), '')
    fs.writeFileSync(path.join(dir, 'snap.tar.gz'), '')
    assert.deepEqual(complete(['apply', 'p'], dir), ['plan.yaml'])
    assert.deepEqual(complete(['status', '--root', 's'], dir), ['snap.tar.gz'])
    assert.deepEqual(complete(['exec', '--', 'p'], dir), [])
  })

  it('offers nothing for a word that is no command', () => {
    assert.deepEqual(complete(['frobnicate', '']), [])
  })
})

describe('zsh completion', () => {
  it('loads in zsh after compinit and registers the bash function through bashcompinit', (t) => {
    if (spawnSync('zsh', ['--version']).error)
      return t.skip('zsh is not installed (test/vm/setup-host.sh installs it)')
    const file = path.join(tmp, 'iommuctl.zsh')
    fs.writeFileSync(file, zshCompletion('iommuctl', commands))
    const out = execFileSync(
      'zsh',
      [
        '-fc',
        'autoload -U compinit && compinit -u -D; source "$1"; print -r -- "${_comps[iommuctl]}"',
        '_',
        file,
      ],
      {encoding: 'utf8', env: {...process.env, HOME: tmp}},
    )
    assert.match(out.trim(), /_bash_complete -F _iommuctl/)
  })
})
