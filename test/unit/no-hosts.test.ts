// Issue 12: test/vm/setup-host.sh wrote a package archive's address into a committed file. The
// scripts that fetch packages (setup-host.sh, build-kernel.sh, debian-mirror.sh) take the archive
// from the machine's own /etc/apt at run time, so no tracked file under test/vm/ holds a URL.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {describe, it} from 'node:test'

import {REPO} from '../helpers/cli.js'

describe('the VM scripts name no package host', () => {
  it('no tracked shell script under test/vm/ has a URL in it; the archive comes from /etc/apt', () => {
    const scripts = execFileSync('git', ['ls-files', 'test/vm/*.sh'], {cwd: REPO, encoding: 'utf8'})
      .split('\n')
      .filter(Boolean)
    assert.ok(scripts.includes('test/vm/setup-host.sh'), scripts.join(' '))
    for (const f of scripts) {
      const text = fs.readFileSync(path.join(REPO, f), 'utf8')
      assert.doesNotMatch(text, /[a-z][a-z0-9+.-]*:\/\/\S/i, `${f} has a URL`)
    }
    assert.match(fs.readFileSync(path.join(REPO, 'test/vm/debian-mirror.sh'), 'utf8'), /\/etc\/apt/)
  })
})
