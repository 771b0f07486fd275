// Fault queues and vEVENTQs through the session engine and plans, over the in-memory kernel twin
// (test/helpers/fake-kernel.ts): what a user of `domains faults` and `domains events` sees (the
// faulting device named, each group answered once, events lost counted), and the order they are
// made and torn down in. The twin's refusals follow drivers/iommu/iommufd/eventq.c and
// hw_pagetable.c; the VM tier (test/vm/queues.test.ts) proves the Iommufd layer under them on
// the kernel's selftest mock.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import * as T from '../../src/native/uapi/iommufd-test.js'
import * as U from '../../src/native/uapi/iommufd.js'
import {followQueue, renderEventRecord, renderFaultRecord} from '../../src/session/follow.js'
import {applyPlan, validatePlan} from '../../src/session/apply.js'
import {Engine} from '../../src/session/engine.js'
import {FakeDeviceSpec, FakeFaultQueue, FakeKernel, FakeVEventQueue, refusal} from '../helpers/fake-kernel.js'
import {assertMatchesSchema} from '../helpers/schema.js'

const DEV = '0000:00:03.0'
const nothingLeft = {fds: [], memory: 0, locked: 0n, objects: 0}
const mockLike: FakeDeviceSpec = {
  bdf: DEV,
  nestedData: [T.IOMMU_HWPT_DATA_SELFTEST],
  viommuTypes: [T.IOMMU_VIOMMU_TYPE_SELFTEST],
}
const selftestData = T.iommu_hwpt_selftest.encode({iotlb: T.IOMMU_TEST_IOTLB_DEFAULT})

/** The fake's queue object behind an id of the engine's iommufd. */
function queueOf<Q>(k: FakeKernel, id: number): Q {
  const o = k.iommufds[0]!.objects.get(id) as unknown as {queue: Q}
  return o.queue
}

/** A page request as _test_cmd_trigger_iopf raises it: grpid 0x2, perm READ|WRITE, addr 0xdeadbeaf. */
const pageRequest = (devId: number, cookie: number, lastPage = true) => ({
  devId,
  pasid: 0x1,
  grpid: 0x2,
  perm: ['read', 'write'] as ('read' | 'write')[],
  addr: 0xdeadbeafn,
  length: 0,
  cookie,
  lastPage,
  flags: U.IOMMU_PGFAULT_FLAGS_PASID_VALID | (lastPage ? U.IOMMU_PGFAULT_FLAGS_LAST_PAGE : 0),
})

describe('fault queues in a session', () => {
  it('reads page requests with the faulting device named, answers each group once, and never waits', async () => {
    const k = new FakeKernel([mockLike])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      const fq = e.createFaultQueue('fq')
      e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      const h = e.createHwpt('s1', 's2', DEV, [], {type: 'selftest', data: selftestData}, 'fq')
      assert.deepEqual(e.readFaults('fq', 64), [], 'an empty queue answers at once, with nothing')
      const devId = e.device(DEV).devId
      const q = queueOf<FakeFaultQueue>(k, fq)
      q.deliver(pageRequest(devId, 7, false))
      q.deliver(pageRequest(devId, 8))
      q.deliver({...pageRequest(999, 9), pasid: null, flags: U.IOMMU_PGFAULT_FLAGS_LAST_PAGE})
      const got = e.readFaults('fq', 64, 'success')
      for (const r of got) assertMatchesSchema('session-fault', r)
      assertMatchesSchema('session-faults', {faults: got})
      assert.deepEqual(
        got.map((r) => [r.device, r.pasid, r.addr, r.cookie, r.lastPage, r.response]),
        [
          [DEV, 1, '0xdeadbeaf', 7, false, null],
          [DEV, 1, '0xdeadbeaf', 8, true, 'success'],
          [null, null, '0xdeadbeaf', 9, true, 'success'],
        ],
      )
      // Only each group's last request is answered (iommufd_fault_fops_write looks up its cookie).
      assert.deepEqual(q.answers, [
        {cookie: 8, response: 'success'},
        {cookie: 9, response: 'success'},
      ])
      assert.equal(
        renderFaultRecord(got[1]!),
        `dev ${devId} (${DEV}) pasid 1 grp 2 read,write 0xdeadbeaf cookie 8 last, answered success`,
      )
      // A cookie nothing waits on any more: the kernel's EINVAL, explained by the errno.
      assert.equal(refusal(() => e.respondFault('fq', 8, 'invalid')).errno, 'EINVAL')
      const o = e.state().objects
      const of = (id: number) => o.find((x) => x.id === id)!
      assert.deepEqual([of(fq).kind, of(fq).name, of(fq).fd === q.fd], ['fault-queue', 'fq', true])
      assert.deepEqual([of(h).kind, of(h).faultQueue], ['hwpt', fq])
      assert.deepEqual(
        refusal(() => e.destroy('fq')),
        {code: 'IN_USE', message: `Object ${fq} is in use by hwpt ${h}.`},
      )
      e.destroy('s1')
      e.destroy('fq')
      assert.equal(q.open, false, 'the descriptor is closed before IOMMU_DESTROY (open, it is a user: EBUSY)')
      assert.equal(refusal(() => e.readFaults('fq', 1)).code, 'NO_SUCH_OBJECT')
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('passes on the kernel refusing a fault queue on a nest-parent HWPT (EOPNOTSUPP), and refuses a name that is no fault queue', () => {
    const k = new FakeKernel([mockLike])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      e.createFaultQueue('fq')
      assert.equal(
        refusal(() => e.createHwpt(null, 'main', DEV, ['nest-parent'], undefined, 'fq')).errno,
        'EOPNOTSUPP',
      )
      assert.equal(
        refusal(() => e.createHwpt(null, 'main', DEV, [], undefined, 'main')).code,
        'NO_SUCH_OBJECT',
      )
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })
})

describe('vEVENTQs in a session', () => {
  it('reads events in sequence, counting the events lost when the queue overflowed', async () => {
    const k = new FakeKernel([mockLike])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      e.createViommu('vi', 's2', DEV, 'selftest')
      const id = e.createVeventq('evq', 'vi', 'selftest', 2)
      // One per vIOMMU and type (iommufd_veventq_alloc: EEXIST).
      assert.equal(refusal(() => e.createVeventq(null, 'vi', 'selftest', 2)).errno, 'EEXIST')
      const q = queueOf<FakeVEventQueue>(k, id)
      const event = (virtId: number) => T.iommu_viommu_event_selftest.encode({virt_id: virtId})
      // As "Trigger an overflow with three events" in the selftest: depth 2, three reported.
      for (const v of [0x99, 0x99, 0x99]) q.report(event(v))
      const got = e.readEvents('evq', 64)
      for (const r of got) assertMatchesSchema('session-event', r)
      assert.deepEqual(
        got.map((r) => [r.sequence, r.lostEvents, r.lost, r.data]),
        [
          [0, false, 0, '99000000'],
          [1, false, 0, '99000000'],
          [2, true, 1, ''],
        ],
      )
      assert.equal(renderEventRecord(got[2]!), 'seq 2 lost events (1)')
      q.report(event(0x42))
      assert.deepEqual(
        e.readEvents('evq', 64).map((r) => [r.sequence, r.lost]),
        [[3, 0]],
      )
      assert.deepEqual(refusal(() => e.destroy('vi')).code, 'IN_USE')
      const state = e.state().objects.find((o) => o.id === id)!
      assert.deepEqual(
        [state.kind, state.type, state.depth, state.parent],
        ['veventq', 'selftest', 2, e.resolve('vi', ['viommu'])],
      )
      const mark = k.log.length
      e.close()
      assert.equal(k.log[mark], `destroy veventq ${id}`, 'the vEVENTQ goes before its vIOMMU')
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })
})

describe('plans with fault queues and vEVENTQs', () => {
  const data = selftestData.toString('hex')
  const plan = {
    version: 1,
    ioas: [{name: 'main'}],
    faultQueues: [{name: 'fq'}],
    hwpts: [
      {name: 's2', ioas: 'main', device: DEV, flags: ['nest-parent']},
      {name: 's1', parent: 'vi', device: DEV, dataType: 'selftest', data, faultQueue: 'fq'},
    ],
    viommus: [{name: 'vi', hwpt: 's2', device: DEV, type: 'selftest'}],
    veventqs: [{name: 'evq', viommu: 'vi', type: 'selftest', depth: 8}],
    attach: [{device: DEV, to: 's1'}],
  }

  it('makes the fault queue before the HWPTs and the vEVENTQ after its vIOMMU', async () => {
    const k = new FakeKernel([mockLike])
    const {engine, steps} = applyPlan(k, await validatePlan(plan), null)
    try {
      assert.deepEqual(
        steps.map((s) => s.entry),
        [
          'devices[0]',
          'ioas[0]',
          'faultQueues[0]',
          'hwpts[0]',
          'viommus[0]',
          'veventqs[0]',
          'hwpts[1]',
          'attach[0]',
        ],
      )
      const o = engine.state().objects
      const byName = (n: string) => o.find((x) => x.name === n)!
      assert.equal(byName('s1').faultQueue, byName('fq').id)
      assert.equal(byName('evq').depth, 8)
    } finally {
      engine.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('refuses, naming the field, an HWPT on no fault queue, a vEVENTQ on no vIOMMU, two of one type', async () => {
    await assert.rejects(
      validatePlan({...plan, faultQueues: []}),
      /^Error: hwpts\[1\]\.faultQueue: no fault queue named fq in faultQueues$/,
    )
    await assert.rejects(
      validatePlan({...plan, veventqs: [{name: 'evq', viommu: 'nope', type: 'selftest'}]}),
      /veventqs\[0\]\.viommu: no vIOMMU named nope in viommus/,
    )
    await assert.rejects(
      validatePlan({...plan, veventqs: [...plan.veventqs, {name: 'evq2', viommu: 'vi', type: 'selftest'}]}),
      /veventqs\[1\]\.type: vIOMMU vi has a selftest vEVENTQ already/,
    )
    await assert.rejects(
      validatePlan({...plan, veventqs: [{name: 'evq', viommu: 'vi', type: 'selftest', depth: 0}]}),
      /veventqs\[0\]\.depth/,
    )
  })
})

describe('--follow', () => {
  it('prints every batch in order, reads again at once after one that brought records, and ends on SIGTERM', async () => {
    const batches = [[1, 2], [3], [], [4]]
    const seen: number[] = []
    const handlers = process.listenerCount('SIGTERM')
    let reads = 0
    await followQueue(
      async () => {
        reads++
        const b = batches.shift() ?? []
        // The user's Ctrl-C (or systemd's stop) while the queue is empty.
        if (!batches.length) setImmediate(() => process.emit('SIGTERM'))
        return b
      },
      (r) => seen.push(r),
    )
    assert.deepEqual(seen, [1, 2, 3, 4])
    assert.ok(reads >= 4)
    assert.equal(process.listenerCount('SIGTERM'), handlers, 'its handlers are gone once it returns')
  })

  it('ends with the error of a refused read (the session stopped)', async () => {
    await assert.rejects(
      followQueue(
        async () => {
          throw new Error('Session default is not running.')
        },
        () => {},
      ),
      /not running/,
    )
  })
})
