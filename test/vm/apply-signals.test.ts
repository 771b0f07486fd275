// Issue 10: kill -INT, -TERM and -HUP during an apply, while it maps a large memory and while it
// holds, leave nothing behind: the device binds again (no descriptor kept it), no iommuctl
// process stays, TMPDIR is empty, and the exit status is the signal's (a hold ends on SIGINT and
// SIGTERM by design: torn down, exit 0). Needs /dev/iommu, so the VM.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runScript, vmIt} from './guest.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-signals-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

const E1000E = '0000:00:03.0'
const SIGNALS = ['INT', 'TERM', 'HUP'] as const
const NUMBER = {INT: 2, TERM: 15, HUP: 1}

/** 768 MiB of the guest's 1536, pinned when the HWPT fills its page table. */
const BIG = {
  version: 1,
  ioas: [{name: 'main', hugePages: false}],
  maps: [{name: 'big', ioas: 'main', size: '768M'}],
  hwpts: [{name: 'h1', ioas: 'main', device: E1000E}],
  attach: [{device: E1000E, to: 'h1'}],
}
const SMALL = {...BIG, maps: [{name: 'buf', ioas: 'main', size: '2M'}]}

// Each case: start apply in the background with a TMPDIR of its own, wait for the moment, signal
// it, and record its status, whether it was still at work when signalled, what TMPDIR holds, the
// iommuctl processes left, and whether the device binds again (hw-info).
const SCRIPT = `P=/run/share
ic() { node bin/run.js "$@"; }
ic devices bind ${E1000E} > /dev/null
vmpin() { awk '/VmPin/ {print $2}' /proc/$1/status 2>/dev/null; }
left() { for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q 'bin/run.js apply' && echo \${p#/proc/}; done; }
for s in ${SIGNALS.join(' ')}; do
  for when in mapping holding; do
    c=$when-$s; T=$dir/tmp-$c; mkdir -p $T
    if [ $when = mapping ]; then
      # The pinning may be over before the poll sees it: such a try (exit 0) is made again.
      for try in 1 2 3 4; do
        TMPDIR=$T node bin/run.js apply $P/big.json --max-pinned 1G --json > $dir/$c.out 2> $dir/$c.err &
        AP=$!
        for i in $(seq 600); do [ "$(vmpin $AP)" != "" ] && [ "$(vmpin $AP)" != 0 ] && break; kill -0 $AP 2>/dev/null || break; sleep 0.05; done
        kill -0 $AP 2>/dev/null && break
        wait $AP
      done
    else
      TMPDIR=$T node bin/run.js apply $P/small.json --hold > $dir/$c.out 2> $dir/$c.err &
      AP=$!
      for i in $(seq 1500); do grep -q holding $dir/$c.out && break; kill -0 $AP 2>/dev/null || break; sleep 0.2; done
    fi
    if ! kill -0 $AP 2>/dev/null; then echo exited > $dir/$c.state
    elif [ $when = holding ] && ! grep -q holding $dir/$c.out; then echo 'not yet holding' > $dir/$c.state
    else echo running > $dir/$c.state; fi
    kill -$s $AP; wait $AP; echo $? > $dir/$c.rc
    ls -A $T > $dir/$c.tmp
    left > $dir/$c.left
    run free-$c ic hw-info ${E1000E} --json
  done
done`

describe('VM: apply killed by a signal leaves nothing behind', () => {
  vmIt('intel: SIGINT, SIGTERM and SIGHUP while mapping 768 MiB and while holding', async () => {
    fs.writeFileSync(path.join(share, 'big.json'), JSON.stringify(BIG))
    fs.writeFileSync(path.join(share, 'small.json'), JSON.stringify(SMALL))
    const read = await runScript('intel', share, SCRIPT, 900_000)
    for (const s of SIGNALS) {
      for (const when of ['mapping', 'holding'] as const) {
        const c = `${when}-${s}`
        const file = (ext: string) => read.file(`${c}.${ext}`).trim()
        assert.equal(
          file('state'),
          'running',
          `${c}: when signalled, apply was ${file('state')}: ${file('err')}`,
        )
        // The shell's status for a process ended by signal N is 128+N.
        const expected = when === 'holding' && s !== 'HUP' ? 0 : 128 + NUMBER[s]
        assert.equal(Number(file('rc')), expected, `${c}: ${file('err')}`)
        assert.equal(file('tmp'), '', `${c}: left in TMPDIR`)
        assert.equal(file('left'), '', `${c}: an apply process is still there`)
        const free = read(`free-${c}`)
        assert.equal(free.rc, 0, `${c}: the device does not bind again: ${free.out}${free.err}`)
        assertMatchesSchema('hw-info', JSON.parse(free.out))
      }
    }
  })
})
