// The session engine (apply, the daemon) driven by an in-memory twin of the kernel
// (test/helpers/fake-kernel.ts), which refuses what drivers/iommu/iommufd/ refuses. What is
// asserted is what a user or the kernel would see: the error message and code, the session's
// state, the calls the kernel received in order, and what is left open afterwards.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe, it} from 'node:test'

import {IommuctlError} from '../../src/errors.js'
import {applyPlan, validatePlan} from '../../src/session/apply.js'
import {Engine} from '../../src/session/engine.js'
import {FakeKernel, refusal} from '../helpers/fake-kernel.js'

const DEV = '0000:00:03.0'
const KiB4 = 4096n
const nothingLeft = {fds: [], memory: 0, locked: 0n, objects: 0}

function engineOn(kernel: FakeKernel, maxPinned: bigint | null = null): Engine {
  return new Engine(kernel, maxPinned)
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-engine-'))
after(() => fs.rmSync(tmp, {recursive: true, force: true}))

describe('the engine: pinned memory, counted against --max-pinned and RLIMIT_MEMLOCK', () => {
  it("refuses a map over the session's limit, changing nothing, and counts an unmap back", () => {
    const k = new FakeKernel()
    const e = engineOn(k, 4n * KiB4)
    try {
      e.createIoas('main')
      e.map('main', {name: 'a', size: 2n * KiB4})
      e.map('main', {name: 'b', size: 2n * KiB4})
      const before = k.log.length
      assert.deepEqual(
        refusal(() => e.map('main', {name: 'c', size: KiB4})),
        {
          code: 'PIN_LIMIT',
          message: "Mapping 4096 more bytes would pin 20480, over this session's limit of 16384.",
        },
      )
      assert.equal(k.log.length, before, 'the kernel was not asked')
      assert.equal(k.memory.size, 2, 'no memory was allocated for the refused map')
      assert.equal(e.state().pinnedBytes, 16384)
      e.unmap('main', 'a')
      assert.equal(e.state().pinnedBytes, 8192)
      assert.equal(e.map('main', {name: 'c', size: KiB4}).name, 'c')
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('maps freely with no page table, and fails the attach that would pin past RLIMIT_MEMLOCK with ENOMEM', () => {
    const k = new FakeKernel([{bdf: DEV}], 8n * KiB4)
    const e = engineOn(k)
    try {
      e.createIoas('main')
      e.map('main', {name: 'big', size: 16n * KiB4})
      assert.equal(k.locked, 0n, 'nothing is pinned before a page table exists')
      assert.deepEqual(
        refusal(() => e.attach(DEV, 'main')),
        {
          code: 'SYSCALL_FAILED',
          message:
            'VFIO_DEVICE_ATTACH_IOMMUFD_PT failed (ENOMEM): out of memory, or over the locked-memory limit (RLIMIT_MEMLOCK).',
          errno: 'ENOMEM',
        },
      )
      const dev = e.state().objects.find((o) => o.kind === 'device')!
      assert.equal(dev.attachedTo, null)
      assert.equal(k.locked, 0n)
      // Under the limit the same attach pins the mapping, and a later map pins at once.
      e.unmap('main', 'big')
      e.map('main', {name: 'small', size: 6n * KiB4})
      e.attach(DEV, 'main')
      assert.equal(k.locked, 6n * KiB4)
      assert.match(
        refusal(() => e.map('main', {name: 'more', size: 4n * KiB4})).message,
        /^IOMMU_IOAS_MAP failed \(ENOMEM\): pinning the memory would exceed RLIMIT_MEMLOCK/,
      )
      assert.deepEqual(
        e
          .state()
          .objects.find((o) => o.kind === 'ioas')!
          .mappings.map((m) => m.name),
        ['small'],
      )
      assert.equal(k.memory.size, 1, "the refused map's memory was released")
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it("says an HWPT could not be made when pinning the IOAS's memory for it fails", () => {
    const k = new FakeKernel([{bdf: DEV}], KiB4)
    const e = engineOn(k)
    try {
      e.createIoas('main')
      e.map('main', {name: 'a', size: 2n * KiB4})
      const r = refusal(() => e.createHwpt('h', 'main', DEV))
      assert.equal(r.errno, 'ENOMEM')
      assert.match(r.message, /^IOMMU_HWPT_ALLOC failed \(ENOMEM\): the kernel pins an IOAS's memory/)
      assert.deepEqual(
        e.state().objects.map((o) => o.kind),
        ['ioas', 'device'],
      )
      // The name was not taken by the failed HWPT.
      e.unmap('main', 'a')
      e.createHwpt('h', 'main', DEV)
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })
})

describe('the engine: refusals, worded for the user', () => {
  it('refuses a fixed IOVA already mapped (EEXIST) and releases the memory it made for it', () => {
    for (const memory of ['anonymous', 'memfd'] as const) {
      const k = new FakeKernel()
      const e = engineOn(k)
      try {
        e.createIoas('main')
        e.map('main', {name: 'a', size: 2n * KiB4, iova: '0x100000', memory})
        assert.deepEqual(
          refusal(() => e.map('main', {name: 'b', size: KiB4, iova: '0x101000', memory})),
          {
            code: 'SYSCALL_FAILED',
            message: `IOMMU_IOAS_MAP${memory === 'memfd' ? '_FILE' : ''} failed (EEXIST): that IOVA range is already mapped.`,
            errno: 'EEXIST',
          },
        )
        assert.equal(k.memory.size + k.files.size, 1, memory)
        assert.equal(e.state().pinnedBytes, 8192)
      } finally {
        e.close()
      }
      assert.deepEqual(k.leftovers(), nothingLeft, memory)
    }
  })

  it('refuses to unmap what it did not map, naming what is mapped', () => {
    const k = new FakeKernel()
    const e = engineOn(k)
    try {
      e.createIoas('main')
      const a = e.map('main', {name: 'a', size: KiB4})
      assert.deepEqual(
        refusal(() => e.unmap('main', '0x7000000')),
        {code: 'NO_SUCH_MAPPING', message: 'Nothing this session mapped starts at 0x7000000 in IOAS 1.'},
      )
      assert.equal(e.unmap('main', a.iova).name, 'a')
      assert.equal(refusal(() => e.unmap('main', 'a')).code, 'NO_SUCH_MAPPING')
    } finally {
      e.close()
    }
  })

  it('refuses to attach to an object destroyed, and to destroy one still in use', () => {
    const k = new FakeKernel([{bdf: DEV}])
    const e = engineOn(k)
    try {
      const spare = e.createIoas('spare')
      e.destroy('spare')
      assert.deepEqual(
        refusal(() => e.attach(DEV, spare)),
        {code: 'NO_SUCH_OBJECT', message: `No ioas or hwpt ${spare} in this session.`},
      )
      const main = e.createIoas('main')
      // Attached to the IOAS itself: the kernel answers with the page table it made for it.
      const pt = e.attach(DEV, 'main')
      assert.notEqual(pt, main)
      assert.deepEqual(
        refusal(() => e.destroy('main')),
        {code: 'IN_USE', message: `Object ${main} is in use by ${DEV}.`},
      )
      e.detach(DEV)
      e.destroy('main')
      assert.deepEqual(
        e.state().objects.map((o) => o.kind),
        ['device'],
      )
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('passes on what the IOMMU cannot do: dirty tracking, a PASID on a page table not made for PASIDs', () => {
    const k = new FakeKernel([{bdf: DEV, dirtyTracking: false}])
    const e = engineOn(k)
    try {
      e.createIoas('main')
      assert.deepEqual(
        refusal(() => e.createHwpt('dirty', 'main', DEV, ['dirty-tracking'])),
        {
          code: 'SYSCALL_FAILED',
          message:
            'IOMMU_HWPT_ALLOC failed (EOPNOTSUPP): the IOMMU hardware or its driver does not support this.',
          errno: 'EOPNOTSUPP',
        },
      )
      e.createHwpt('plain', 'main', DEV)
      assert.match(
        refusal(() => e.attach(DEV, 'plain', 1)).message,
        /^VFIO_DEVICE_ATTACH_IOMMUFD_PT of PASID 1 failed \(EINVAL\): the device cannot use this PASID/,
      )
      e.createHwpt('pasids', 'main', DEV, ['pasid'])
      e.attach(DEV, 'pasids', 1)
      assert.deepEqual(e.state().objects.find((o) => o.kind === 'device')!.pasids, [{pasid: 1, pt: 4}])
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('unmaps by name or IOVA exactly the mapping named, and releases its pin', () => {
    const k = new FakeKernel()
    const e = engineOn(k)
    try {
      e.createIoas('main')
      e.map('main', {name: 'a', size: KiB4})
      const buf = e.map('main', {name: 'buf', size: 2n * KiB4})
      const anon = e.map('main', {name: null, size: KiB4})
      assert.equal(e.state().pinnedBytes, 16384)
      const mark = k.log.length
      assert.equal(e.unmap('main', 'buf').iova, buf.iova)
      assert.deepEqual(k.log.slice(mark), [`unmap ioas 1 ${buf.iova}+0x2000`])
      assert.equal(e.unmap('main', anon.iova).name, null)
      assert.equal(e.state().pinnedBytes, 4096)
      assert.match(refusal(() => e.unmap('main', 'buf')).message, /is named buf/)
      assert.deepEqual(
        e.state().objects[0]!.mappings.map((m) => m.name),
        ['a'],
      )
      assert.equal(k.memory.size, 1, 'the unmapped memory was released')
    } finally {
      e.close()
    }
  })
})

describe('the engine: teardown', () => {
  it('undoes everything in the reverse of the order it was made, and leaves nothing open', () => {
    const file = path.join(tmp, 'guest-ram')
    fs.writeFileSync(file, Buffer.alloc(8192))
    const k = new FakeKernel([{bdf: DEV}], 64n * KiB4)
    const e = engineOn(k)
    e.device(DEV)
    e.createIoas('main')
    e.map('main', {name: 'low', size: KiB4, iova: '0x0'})
    e.map('main', {name: 'ram', size: 2n * KiB4, iova: '0x10000', memory: {file}})
    e.createHwpt('h', 'main', DEV, ['pasid'])
    e.attach(DEV, 'h')
    e.attach(DEV, 'h', 7)
    assert.equal(k.locked, 3n * KiB4)
    const mark = k.log.length
    e.close()
    assert.deepEqual(k.log.slice(mark), [
      `detach ${DEV} pasid 7`,
      `detach ${DEV}`,
      'destroy hwpt 3',
      'unmap ioas 2 0x10000+0x2000',
      'unmap ioas 2 0x0+0x1000',
      'destroy ioas 2',
      `close ${DEV}`,
      'close iommufd',
    ])
    assert.deepEqual(k.leftovers(), nothingLeft)
    e.close()
    assert.equal(k.log.length, mark + 8, 'a second close does nothing')
  })

  it('still closes everything when the kernel refuses a step of the teardown', () => {
    const k = new FakeKernel([{bdf: DEV}], 64n * KiB4)
    const e = engineOn(k)
    e.createIoas('main')
    e.map('main', {name: 'a', size: KiB4})
    e.createHwpt('h', 'main', DEV)
    e.attach(DEV, 'h')
    // The detach fails, so the HWPT and the IOAS are busy (EBUSY) when their turn comes.
    k.failNext.set(`detach ${DEV}`, os.constants.errno.EIO)
    e.close()
    assert.ok(!k.log.some((l) => l.startsWith('destroy')), 'the kernel refused every destroy')
    assert.deepEqual(k.leftovers(), nothingLeft)
  })
})

describe('apply: a plan that fails halfway is rolled back', () => {
  const plan = (extra: object) =>
    validatePlan({
      version: 1,
      ioas: [{name: 'main'}],
      maps: [
        {name: 'ram', ioas: 'main', size: '16K', iova: '0x0'},
        {name: 'rom', ioas: 'main', size: '4K', memory: 'memfd'},
      ],
      ...extra,
    })

  it('names the entry that failed and why, and leaves no object, descriptor, memory or pin', async () => {
    const cases: [FakeKernel, object, string][] = [
      [
        new FakeKernel([{bdf: DEV}]),
        {hwpts: [{name: 'h', ioas: 'main', device: DEV, flags: ['dirty-tracking']}]},
        `hwpts[0] (HWPT h on main for ${DEV} (dirty-tracking)) failed: IOMMU_HWPT_ALLOC failed (EOPNOTSUPP): the IOMMU hardware or its driver does not support this. Everything made before it was torn down.`,
      ],
      [
        new FakeKernel([{bdf: DEV}], 4n * KiB4),
        {attach: [{device: DEV, to: 'main'}]},
        `attach[0] (attach ${DEV} to main) failed: VFIO_DEVICE_ATTACH_IOMMUFD_PT failed (ENOMEM): out of memory, or over the locked-memory limit (RLIMIT_MEMLOCK). Everything made before it was torn down.`,
      ],
      [
        new FakeKernel([{bdf: DEV}]),
        {
          hwpts: [{name: 'h', ioas: 'main', device: DEV}],
          attach: [
            {device: DEV, to: 'h'},
            {device: DEV, to: 'h', pasid: 5},
          ],
        },
        `attach[1] (attach ${DEV} PASID 5 to h) failed: VFIO_DEVICE_ATTACH_IOMMUFD_PT of PASID 5 failed (EINVAL): the device cannot use this PASID: it has no PASID capability, or the PASID is out of its range. Everything made before it was torn down.`,
      ],
    ]
    for (const [k, extra, message] of cases) {
      const p = await plan(extra)
      assert.throws(
        () => applyPlan(k, p, null),
        (e: IommuctlError) => e.code === 'APPLY_FAILED' && e.message === message,
      )
      assert.ok(k.log.includes(`bind ${DEV}`), 'the plan got as far as binding')
      assert.deepEqual(k.leftovers(), nothingLeft, message)
    }
  })

  it('an mdev (by UUID) binds and attaches to the IOAS itself, pinning nothing; an HWPT is refused', async () => {
    const MDEV = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001'
    const k = new FakeKernel([{bdf: DEV}, {bdf: MDEV, emulated: true}], 16n * KiB4)
    const {engine, steps} = applyPlan(k, await plan({attach: [{device: MDEV, to: 'main'}]}), null)
    const result = (entry: string) => steps.find((s) => s.entry === entry)!.result
    assert.equal(result('attach[0]').replace('pt ', ''), result('ioas[0]').replace('ioas ', ''))
    assert.equal(k.locked, 0n, 'the emulated path pins nothing by itself')
    engine.close()
    assert.deepEqual(k.leftovers(), nothingLeft)
    const k2 = new FakeKernel([{bdf: DEV}, {bdf: MDEV, emulated: true}], 16n * KiB4)
    const p = await plan({hwpts: [{name: 'h', ioas: 'main', device: DEV}], attach: [{device: MDEV, to: 'h'}]})
    assert.throws(
      () => applyPlan(k2, p, null),
      (e: IommuctlError) =>
        e.code === 'APPLY_FAILED' &&
        e.errno === 'ENOENT' &&
        e.message.startsWith(`attach[0] (attach ${MDEV} to h)`),
    )
    assert.deepEqual(k2.leftovers(), nothingLeft)
  })

  it('refuses before opening anything when a device is not there', async () => {
    const k = new FakeKernel([])
    const p = await plan({attach: [{device: DEV, to: 'main'}]})
    assert.throws(() => applyPlan(k, p, null), /No PCI device 0000:00:03\.0/)
    assert.deepEqual(k.log, [])
  })

  it('builds the whole plan when the kernel accepts it, and a close undoes it', async () => {
    const k = new FakeKernel([{bdf: DEV}], 16n * KiB4)
    const {engine, steps} = applyPlan(k, await plan({attach: [{device: DEV, to: 'main'}]}), null)
    assert.deepEqual(
      steps.map((s) => s.entry),
      ['devices[0]', 'ioas[0]', 'maps[0]', 'maps[1]', 'attach[0]'],
    )
    assert.equal(k.locked, 5n * KiB4)
    engine.close()
    assert.deepEqual(k.leftovers(), nothingLeft)
  })
})
