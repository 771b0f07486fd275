import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {JournalData} from '../../src/configure/journal.js'
import {DriverState, sameState} from '../../src/configure/mover.js'
import {HostOps} from '../../src/configure/mover.js'
import {Change, planSteps, Transaction} from '../../src/configure/transaction.js'
import {IommuctlError} from '../../src/errors.js'

const A = '0000:04:01.0'
const B = '0000:04:02.0'

/**
 * sysfs in memory: driver_override, unbind, bind, drivers_probe and a group's type behave as
 * the kernel's do. Every write is logged with the journal as it was last saved at that moment;
 * failAt makes the nth device check find the device where it is not wanted.
 */
class FakeHost implements HostOps {
  readonly devices = new Map<string, DriverState>()
  readonly types = new Map<number, string>()
  /** UUIDs of the mdevs that exist, as /sys/bus/mdev/devices lists them. */
  readonly mdevs = new Set<string>()
  /** sriov_numvfs and nr_hugepages files; a hugepage pool takes at most `pages` (free memory). */
  readonly values = new Map<string, string>()
  pages = Infinity
  readonly writes: {path: string; value: string; journal: JournalData}[] = []
  private checks = 0

  constructor(
    private readonly journal: {saved: JournalData},
    private readonly failAt = 0,
  ) {}

  driverState(bdf: string): DriverState {
    return {...this.devices.get(bdf)!}
  }

  groupType(group: number): string | null {
    return this.types.get(group) ?? null
  }

  read(path: string): string | null {
    return this.values.get(path) ?? null
  }

  write(path: string, value: string): void {
    this.writes.push({path, value, journal: structuredClone(this.journal.saved)})
    // mdev_sysfs.c: create_store makes the mdev (EEXIST for a UUID in use), remove_store removes it.
    const mdev =
      /^\/sys\/(?:class\/mdev_bus\/[^/]+\/mdev_supported_types\/[^/]+\/create|bus\/mdev\/devices\/([^/]+)\/remove)$/.exec(
        path,
      )
    if (mdev) {
      if (mdev[1]) this.mdevs.delete(mdev[1])
      else if (this.mdevs.has(value)) throw Object.assign(new Error('EEXIST: file exists'), {code: 'EEXIST'})
      else this.mdevs.add(value)
      return
    }
    if (path.endsWith('/sriov_numvfs')) {
      // sriov_numvfs_store (drivers/pci/iov.c): a count changes only from 0, else EBUSY.
      if (value !== '0' && this.values.get(path) !== '0')
        throw Object.assign(new Error('EBUSY'), {code: 'EBUSY'})
      return void this.values.set(path, value)
    }
    if (path.endsWith('/nr_hugepages')) {
      // The kernel reserves what it can and reports no error (hugetlb's set_max_huge_pages).
      return void this.values.set(path, String(Math.min(Number(value), this.pages)))
    }
    const m =
      /^\/sys\/(?:bus\/pci\/devices\/([^/]+)\/driver_override|bus\/pci\/drivers\/([^/]+)\/(bind|unbind)|bus\/pci\/drivers_probe|kernel\/iommu_groups\/(\d+)\/type)$/.exec(
        path,
      )
    assert.ok(m, `unexpected write to ${path}`)
    if (m[4]) this.types.set(Number(m[4]), value)
    else if (m[1]) this.devices.get(m[1])!.driverOverride = value === '' ? null : value
    else if (m[3] === 'unbind') this.devices.get(value)!.driver = null
    else if (m[3] === 'bind') this.devices.get(value)!.driver = m[2]!
    else this.devices.get(value)!.driver = this.devices.get(value)!.driverOverride
  }

  waitFor(bdf: string, want: DriverState): void {
    if (++this.checks === this.failAt) throw new Error(`${bdf} did not take ${want.driver}`)
    assert.ok(sameState(this.driverState(bdf), want), `${bdf} is not as wanted`)
  }

  loadModule(): void {}

  mdevPresent(uuid: string): boolean {
    return this.mdevs.has(uuid)
  }
}

function setUp(failAt = 0) {
  const data: JournalData = {format: 1, devices: {}, groups: {}}
  const store = {saved: structuredClone(data)}
  const journal = {data, save: () => void (store.saved = structuredClone(data))}
  const host = new FakeHost(store, failAt)
  host.devices.set(A, {driver: 'e1000', driverOverride: null})
  host.devices.set(B, {driver: 'e1000', driverOverride: null})
  host.types.set(4, 'DMA')
  return {host, journal, store}
}

const toVfio = (bdf: string): Change => ({
  kind: 'device',
  bdf,
  from: {driver: 'e1000', driverOverride: null},
  to: {driver: 'vfio-pci', driverOverride: 'vfio-pci'},
  journal: 'record',
})

describe('Transaction', () => {
  it('takes exactly the planned steps, journalling each device before its first write', () => {
    const {host, journal, store} = setUp()
    const changes = [toVfio(A), toVfio(B)]
    const planned = planSteps(changes).map((s) => `${s.bdf} ${s.action} ${s.value}`)
    const tx = new Transaction(host, journal, 'bind')
    tx.run(changes)
    assert.deepEqual(
      tx.steps.map((s) => `${s.bdf} ${s.action} ${s.value}`),
      planned,
    )
    assert.ok(tx.steps.every((s) => s.status === 'done'))
    for (const w of host.writes) {
      const bdf = [A, B].find((b) => w.path.includes(b) || w.value === b)!
      assert.equal(w.journal.devices[bdf]?.driver, 'e1000', `${w.path} written before ${bdf} was journalled`)
      assert.equal(w.journal.devices[bdf]?.pendingPid, process.pid)
    }
    assert.deepEqual(host.driverState(B), {driver: 'vfio-pci', driverOverride: 'vfio-pci'})
    // Kept, settled: restore gives them back later.
    assert.deepEqual(Object.keys(store.saved.devices), [A, B])
    assert.equal(store.saved.devices[A]!.pendingPid, undefined)
  })

  for (const k of [1, 2]) {
    it(`a check failing at device ${k} rolls back every started change, last first`, () => {
      const {host, journal, store} = setUp(k)
      const tx = new Transaction(host, journal, 'bind')
      assert.throws(
        () => tx.run([toVfio(A), toVfio(B)]),
        (e: IommuctlError) =>
          e.code === 'CHANGE_FAILED' &&
          e.message.includes(`at verify of ${k === 1 ? A : B}`) &&
          e.message.includes(`Put back as they were: ${k === 1 ? A : `${B}, ${A}`}`),
      )
      // The rollback writes come after the failure, the later device first.
      const failedAt = tx.steps.findIndex((s) => s.status === 'failed')
      const rollback = tx.steps.slice(failedAt + 1).filter((s) => s.action !== 'verify')
      const order = [...new Set(rollback.map((s) => s.bdf ?? s.value))]
      assert.deepEqual(order, k === 1 ? [A] : [B, A])
      for (const b of [A, B]) assert.deepEqual(host.driverState(b), {driver: 'e1000', driverOverride: null})
      assert.ok(tx.steps.slice(0, failedAt).every((s) => s.status === 'undone'))
      assert.deepEqual(store.saved.devices, {}, 'what was put back leaves the journal')
    })
  }

  it('a group type change: journalled before its write, put back with the devices on failure', () => {
    const {host, journal, store} = setUp(2)
    const off = {driver: null, driverOverride: null}
    const on = {driver: 'e1000', driverOverride: null}
    const changes: Change[] = [
      {kind: 'device', bdf: A, from: on, to: off, journal: 'transient'},
      {kind: 'group-type', group: 4, from: 'DMA', to: 'identity'},
      {kind: 'device', bdf: A, from: off, to: on, journal: 'transient'},
    ]
    const tx = new Transaction(host, journal, 'set-type')
    assert.throws(() => tx.run(changes), {code: 'CHANGE_FAILED'})
    const typeWrite = host.writes.find((w) => w.path.endsWith('/type') && w.value === 'identity')!
    assert.equal(typeWrite.journal.groups['4']?.type, 'DMA')
    // The rebind's check failed: A back off its driver, the type back, then A bound again.
    assert.deepEqual(
      host.writes.slice(host.writes.indexOf(typeWrite) + 1).map((w) => `${w.path} ${w.value}`),
      [
        '/sys/bus/pci/drivers/e1000/bind 0000:04:01.0',
        '/sys/bus/pci/drivers/e1000/unbind 0000:04:01.0',
        '/sys/kernel/iommu_groups/4/type DMA',
        '/sys/bus/pci/drivers/e1000/bind 0000:04:01.0',
      ],
    )
    assert.equal(host.groupType(4), 'DMA')
    assert.deepEqual(host.driverState(A), on)
    assert.deepEqual(store.saved, {format: 1, devices: {}, groups: {}})
  })

  it('a plan with nothing to change writes nothing, the journal included', () => {
    const {host, journal} = setUp()
    let saves = 0
    const tx = new Transaction(host, {data: journal.data, save: () => saves++}, 'bind')
    const on = {driver: 'e1000', driverOverride: null}
    tx.run([{kind: 'device', bdf: A, from: on, to: on, journal: 'record'}])
    assert.equal(host.writes.length, 0)
    assert.equal(saves, 0)
  })

  describe('VF counts and hugepage pools', () => {
    const NUMVFS = '/sys/bus/pci/devices/0000:01:00.0/sriov_numvfs'
    const POOL = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
    const vfs = (from: number, to: number): Change => ({kind: 'sriov', bdf: '0000:01:00.0', from, to})
    const pool = (from: number, to: number): Change => ({kind: 'hugepages', path: POOL, from, to})

    it('a VF count changes through 0, as the kernel requires; an equal one is not written', () => {
      const {host, journal} = setUp()
      host.values.set(NUMVFS, '2')
      assert.deepEqual(planSteps([vfs(2, 2)]), [])
      const tx = new Transaction(host, journal, 'host-apply')
      tx.run([vfs(2, 1)])
      assert.deepEqual(
        host.writes.map((w) => w.value),
        ['0', '1'],
      )
      assert.equal(host.read(NUMVFS), '1')
    })

    it('each count is journalled (the count to put back) before its first write, and gone after', () => {
      const {host, journal, store} = setUp()
      host.values.set(NUMVFS, '2')
      host.values.set(POOL, '4')
      new Transaction(host, journal, 'host-apply').run([vfs(2, 1), pool(4, 8)])
      const entry = {from: 2, by: 'host-apply', pendingPid: process.pid}
      for (const w of host.writes.filter((x) => x.path === NUMVFS)) {
        assert.deepEqual(
          {...w.journal.vfs?.['0000:01:00.0'], at: undefined},
          {...entry, at: undefined},
          `${w.value} written before the VF count was journalled`,
        )
      }
      const poolWrite = host.writes.find((x) => x.path === POOL)!
      assert.equal(poolWrite.journal.hugepages?.['hugepages-2048kB']?.from, 4)
      // VFs and pools last one boot: a finished run leaves nothing for restore to give back.
      assert.deepEqual(store.saved, {format: 1, devices: {}, groups: {}})
    })

    it("an entry there already (a restore's repair) keeps its count, and a failed repair keeps the entry", () => {
      const {host, journal, store} = setUp()
      host.values.set(NUMVFS, '2')
      host.values.set(POOL, '8')
      host.pages = 2
      const killed = {
        from: 0,
        by: 'host-apply' as const,
        at: '2026-12-03T00:00:00.000Z',
        pendingPid: 4_000_000,
      }
      journal.data.vfs = {'0000:01:00.0': {...killed}}
      journal.data.hugepages = {'hugepages-2048kB': {...killed, from: 4}}
      // The pool goes down to 4 but the kernel keeps 2 (fake: at most 2): the repair fails.
      assert.throws(() => new Transaction(host, journal, 'restore').run([vfs(2, 0), pool(8, 4)]), {
        code: 'CHANGE_FAILED',
      })
      assert.equal(store.saved.vfs?.['0000:01:00.0']?.from, 0)
      assert.equal(store.saved.hugepages?.['hugepages-2048kB']?.from, 4)
      assert.equal(store.saved.vfs?.['0000:01:00.0']?.pendingPid, process.pid, 'this run, dead once it exits')
    })

    it('a pool the kernel fills only in part fails the run, and every change is put back', () => {
      const {host, journal, store} = setUp()
      host.values.set(NUMVFS, '0')
      host.values.set(POOL, '4')
      host.pages = 100
      const tx = new Transaction(host, journal, 'host-apply')
      assert.throws(
        () => tx.run([vfs(0, 2), toVfio(A), pool(4, 512)]),
        (e: IommuctlError) =>
          e.code === 'CHANGE_FAILED' &&
          /reserved 100 of the 512 hugepages/.test(e.message) &&
          e.message.includes(`Put back as they were: ${POOL}, ${A}, the VFs of 0000:01:00.0`),
      )
      assert.equal(host.read(POOL), '4')
      assert.equal(host.read(NUMVFS), '0')
      assert.deepEqual(host.driverState(A), {driver: 'e1000', driverOverride: null})
      assert.deepEqual(store.saved.devices, {})
    })

    it("a refused write of sriov_numvfs is explained in the kernel's terms", () => {
      const {host, journal} = setUp()
      host.values.set(NUMVFS, '2')
      const tx = new Transaction(host, journal, 'host-apply')
      // Planned from 0 while the PF has 2: the kernel's EBUSY.
      assert.throws(
        () => tx.run([vfs(0, 3)]),
        (e: IommuctlError) =>
          e.errno === 'EBUSY' && /has VFs already \(the count changes only from 0\)/.test(e.message),
      )
    })
  })
})

describe('Transaction: mdevs', () => {
  const U = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001'
  const create: Change = {kind: 'mdev-create', uuid: U, parent: 'mtty', type: 'mtty-2'}

  it("journals the create before its write, writes the UUID to the type's create file, and keeps no entry after", () => {
    const {host, journal, store} = setUp()
    const tx = new Transaction(host, journal, 'mdev-create')
    tx.run([create])
    // mdev_sysfs.c: a type's create file is under the parent's mdev_supported_types/<type>/.
    assert.deepEqual(
      host.writes.map((w) => [w.path, w.value]),
      [['/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2/create', U]],
    )
    assert.deepEqual(host.writes[0]!.journal.mdevs?.[U], {
      action: 'create',
      parent: 'mtty',
      type: 'mtty-2',
      by: 'mdev-create',
      at: host.writes[0]!.journal.mdevs?.[U]?.at,
      pendingPid: process.pid,
    })
    assert.ok(host.mdevs.has(U))
    assert.equal(store.saved.mdevs, undefined, 'an mdev lasts one boot: nothing is kept to give back')
  })

  it("a remove writes 1 to the mdev's remove file, journalled first", () => {
    const {host, journal, store} = setUp()
    host.mdevs.add(U)
    new Transaction(host, journal, 'mdev-remove').run([{...create, kind: 'mdev-remove'}])
    assert.deepEqual(
      host.writes.map((w) => [w.path, w.value, w.journal.mdevs?.[U]?.action]),
      [[`/sys/bus/mdev/devices/${U}/remove`, '1', 'remove']],
    )
    assert.equal(host.mdevs.has(U), false)
    assert.equal(store.saved.mdevs, undefined)
  })

  it('a create the kernel refuses (EEXIST) fails with the reason, and leaves no journal entry', () => {
    const {host, journal, store} = setUp()
    host.mdevs.add(U)
    const tx = new Transaction(host, journal, 'mdev-create')
    assert.throws(
      () => tx.run([create]),
      (e: IommuctlError) =>
        e.code === 'CHANGE_FAILED' &&
        e.errno === 'EEXIST' &&
        /at create-mdev: .*an mdev with this UUID exists already/.test(e.message),
    )
    assert.equal(store.saved.mdevs, undefined)
    assert.ok(host.mdevs.has(U), 'the existing mdev is not touched')
  })
})
