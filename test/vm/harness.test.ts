import assert from 'node:assert/strict'
import {describe} from 'node:test'

import {vmIt} from './guest.js'
import {explain, runInGuest} from './harness.js'

describe('VM harness', () => {
  vmIt('returns the guest command stdout, stderr and exit status', async () => {
    const r = await runInGuest('none', {
      command: 'echo to-stdout; echo to-stderr >&2; cat /proc/cmdline >&2; exit 7',
    })
    assert.equal(r.timedOut, false, explain(r))
    assert.equal(r.status, 7, explain(r))
    assert.equal(r.stdout, 'to-stdout\n')
    assert.match(r.stderr, /^to-stderr\n.*console=ttyS0/s)
  })

  vmIt('runs in the checkout with the host root read-only', async () => {
    const r = await runInGuest('none', {
      command: 'test -f package.json && ! touch package.json 2>/dev/null && uname -r',
    })
    assert.equal(r.status, 0, explain(r))
    assert.match(r.stdout, /^\d+\.\d+/)
  })

  vmIt('kills a hung guest at the timeout and says so', async () => {
    const r = await runInGuest('none', {command: 'sleep 600', timeoutMs: 15_000})
    assert.equal(r.timedOut, true)
    assert.equal(r.status, null)
    assert.ok(r.pid, 'QEMU was started')
    // signal 0 only asks whether the process exists: ESRCH means the guest is gone.
    assert.throws(() => process.kill(r.pid!, 0), {code: 'ESRCH'}, 'the killed QEMU is not left running')
  })
})
