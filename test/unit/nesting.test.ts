// Nesting through the session engine, over the in-memory kernel twin (test/helpers/fake-kernel.ts):
// nest-parent and nested HWPTs, cache invalidation with the count the kernel handled, vIOMMUs and
// vDEVICEs, and plans that build them. The twin's refusals follow drivers/iommu/iommufd/
// hw_pagetable.c and viommu.c, and the drivers' own checks (iommufd/selftest.c, intel/nested.c),
// each cited beside the case; the VM tier (test/vm/nested.test.ts) proves them on the real mock.
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import * as T from '../../src/native/uapi/iommufd-test.js'
import * as U from '../../src/native/uapi/iommufd.js'
import {applyPlan, validatePlan} from '../../src/session/apply.js'
import {Engine} from '../../src/session/engine.js'
import {FakeDeviceSpec, FakeKernel, refusal} from '../helpers/fake-kernel.js'

const DEV = '0000:00:03.0'
const OTHER = '0000:00:04.0'
const nothingLeft = {fds: [], memory: 0, locked: 0n, objects: 0}

/** A device behind an IOMMU whose driver nests like the selftest mock. */
const mockLike = (bdf: string, iommu = 'iommu0'): FakeDeviceSpec => ({
  bdf,
  iommu,
  nestedData: [T.IOMMU_HWPT_DATA_SELFTEST],
  viommuTypes: [T.IOMMU_VIOMMU_TYPE_SELFTEST],
})

/** iommu_hwpt_selftest with every IOTLB entry at IOMMU_TEST_IOTLB_DEFAULT, as the selftest allocates. */
const selftestData = T.iommu_hwpt_selftest.encode({iotlb: T.IOMMU_TEST_IOTLB_DEFAULT})
const selftestInv = (...entries: {flags?: number; iotlb_id?: number}[]) =>
  T.iommu_hwpt_invalidate_selftest.encodeArray(entries)

describe('nested HWPTs', () => {
  it('allocates one on a nest-parent HWPT with the data, and tears it down before its parent', () => {
    const k = new FakeKernel([mockLike(DEV)])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      const parent = e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      const nested = e.createHwpt('s1', 's2', DEV, [], {type: 'selftest', data: selftestData})
      const o = e.state().objects.find((x) => x.id === nested)!
      assert.deepEqual([o.kind, o.parent, o.type, o.bdf], ['hwpt', parent, 'selftest', DEV])
      assert.deepEqual(
        refusal(() => e.destroy('s2')),
        {code: 'IN_USE', message: `Object ${parent} is in use by hwpt ${nested}.`},
      )
      const mark = k.log.length
      e.close()
      assert.deepEqual(k.log.slice(mark, mark + 2), [`destroy hwpt ${nested}`, `destroy hwpt ${parent}`])
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it("passes on the kernel's refusals, each explained: a parent without nest-parent, a data type the driver lacks, data too short", () => {
    const k = new FakeKernel([mockLike(DEV)])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      e.createHwpt('plain', 'main', DEV)
      e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      // hw_pagetable.c iommufd_hwpt_nested_alloc: !parent->nest_parent is EINVAL.
      assert.deepEqual(
        refusal(() => e.createHwpt(null, 'plain', DEV, [], {type: 'selftest', data: selftestData})),
        {
          code: 'SYSCALL_FAILED',
          message:
            "IOMMU_HWPT_ALLOC failed (EINVAL): a nested HWPT's parent must be an HWPT allocated with nest-parent (or a vIOMMU on the device's own IOMMU), and a paging HWPT's an IOAS.",
          errno: 'EINVAL',
        },
      )
      // selftest.c __mock_domain_alloc_nested: a type other than IOMMU_HWPT_DATA_SELFTEST is EOPNOTSUPP.
      assert.deepEqual(
        refusal(() =>
          e.createHwpt(null, 's2', DEV, [], {
            type: 'vtd-s1',
            data: U.iommu_hwpt_vtd_s1.encode({addr_width: 48}),
          }),
        ),
        {
          code: 'SYSCALL_FAILED',
          message:
            'IOMMU_HWPT_ALLOC failed (EOPNOTSUPP): the IOMMU hardware or its driver does not support this.',
          errno: 'EOPNOTSUPP',
        },
      )
      // iommu_copy_struct_from_user: fewer bytes than offsetofend(iotlb) is EINVAL.
      assert.equal(
        refusal(() => e.createHwpt(null, 's2', DEV, [], {type: 'selftest', data: Buffer.alloc(3)})).errno,
        'EINVAL',
      )
      // A parent that is an IOAS is not what a nested HWPT is made on: refused before the kernel.
      assert.deepEqual(
        refusal(() => e.createHwpt(null, 'main', DEV, [], {type: 'selftest', data: selftestData})),
        {code: 'NO_SUCH_OBJECT', message: 'No hwpt or viommu main in this session.'},
      )
      assert.deepEqual(
        e
          .state()
          .objects.filter((o) => o.kind === 'hwpt')
          .map((o) => o.name),
        ['plain', 's2'],
        'no refused HWPT is recorded',
      )
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('refuses nest-parent on an IOMMU without nesting (EOPNOTSUPP)', () => {
    const k = new FakeKernel([{bdf: DEV}])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      assert.equal(refusal(() => e.createHwpt('s2', 'main', DEV, ['nest-parent'])).errno, 'EOPNOTSUPP')
    } finally {
      e.close()
    }
  })
})

describe('cache invalidation', () => {
  it('reports every entry handled, and when the kernel stops early, how many it handled first', () => {
    const k = new FakeKernel([mockLike(DEV)])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      e.createHwpt('s1', 's2', DEV, [], {type: 'selftest', data: selftestData})
      assert.deepEqual(e.invalidate('s1', 'selftest', selftestInv({iotlb_id: 2}, {iotlb_id: 3})), {
        handled: 2,
        requested: 2,
      })
      // An empty array asks only whether the type is taken (iommufd.h).
      assert.deepEqual(e.invalidate('s1', 'selftest', Buffer.alloc(0)), {handled: 0, requested: 0})
      // selftest.c mock_domain_cache_invalidate_user: unknown flag bits are EOPNOTSUPP, and
      // entry_num says how many entries were handled before (iommufd.c alloc_hwpt_nested: 1).
      assert.deepEqual(
        refusal(() => e.invalidate('s1', 'selftest', selftestInv({iotlb_id: 0}, {flags: 0xffffffff}))),
        {
          code: 'SYSCALL_FAILED',
          message:
            'IOMMU_HWPT_INVALIDATE failed (EOPNOTSUPP): an entry sets flags or reserved bits the driver does not know, or the object cannot be invalidated. It handled 1 of 2 entries, stopping at entry 1.',
          errno: 'EOPNOTSUPP',
        },
      )
      // An iotlb_id past MOCK_NESTED_DOMAIN_IOTLB_ID_MAX in the first entry: EINVAL, none handled.
      assert.match(
        refusal(() => e.invalidate('s1', 'selftest', selftestInv({iotlb_id: 4}))).message,
        /\(EINVAL\).* It handled 0 of 1 entries, stopping at entry 0\.$/,
      )
    } finally {
      e.close()
    }
  })

  it('refuses before asking the kernel: a paging HWPT, a type its kind never takes, bytes that are not whole entries', () => {
    const k = new FakeKernel([mockLike(DEV)])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      e.createHwpt('s1', 's2', DEV, [], {type: 'selftest', data: selftestData})
      const mark = k.log.length
      assert.equal(refusal(() => e.invalidate('s2', 'selftest', selftestInv({}))).code, 'NOT_NESTED')
      assert.deepEqual(
        refusal(() => e.invalidate('s1', 'arm-smmuv3', Buffer.alloc(16))),
        {code: 'BAD_REQUEST', message: 'An HWPT takes vtd-s1, selftest invalidations, not arm-smmuv3.'},
      )
      assert.deepEqual(
        refusal(() => e.invalidate('s1', 'selftest', Buffer.alloc(12))),
        {code: 'BAD_REQUEST', message: '12 bytes are not whole selftest entries of 8 bytes.'},
      )
      assert.equal(k.log.length, mark, 'the kernel was not asked')
    } finally {
      e.close()
    }
  })

  it('checks VT-d stage-1 entries as intel/nested.c does: reserved bits EOPNOTSUPP, an unaligned address EINVAL', () => {
    const vtd: FakeDeviceSpec = {bdf: DEV, nestedData: [U.IOMMU_HWPT_DATA_VTD_S1]}
    const k = new FakeKernel([vtd])
    const e = new Engine(k, null)
    const entry = (v: {addr?: bigint; npages?: bigint; flags?: number; __reserved?: number}) =>
      U.iommu_hwpt_vtd_s1_invalidate.encode(v)
    try {
      e.createIoas('main')
      e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      e.createHwpt('s1', 's2', DEV, [], {
        type: 'vtd-s1',
        data: U.iommu_hwpt_vtd_s1.encode({pgtbl_addr: 0x10_0000n, addr_width: 48}),
      })
      const all = entry({addr: 0n, npages: (1n << 64n) - 1n})
      assert.deepEqual(e.invalidate('s1', 'vtd-s1', all), {handled: 1, requested: 1})
      assert.match(
        refusal(() => e.invalidate('s1', 'vtd-s1', Buffer.concat([all, entry({npages: 1n, __reserved: 1})])))
          .message,
        /\(EOPNOTSUPP\).* It handled 1 of 2 entries/,
      )
      assert.match(
        refusal(() => e.invalidate('s1', 'vtd-s1', entry({addr: 0x800n, npages: 1n}))).message,
        /\(EINVAL\).* It handled 0 of 1 entries/,
      )
    } finally {
      e.close()
    }
  })
})

describe('vIOMMUs and vDEVICEs', () => {
  it('makes a vIOMMU on a nest-parent HWPT, a vDEVICE at a virtual id, a nested HWPT on the vIOMMU; state shows each', () => {
    const k = new FakeKernel([mockLike(DEV)])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      const s2 = e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      const viommu = e.createViommu('vi', 's2', DEV, 'selftest')
      const vdev = e.createVdevice('vd', 'vi', DEV, 0x99n)
      const s1 = e.createHwpt('s1', 'vi', DEV, [], {type: 'selftest', data: selftestData})
      const byId = new Map(e.state().objects.map((o) => [o.id, o]))
      assert.deepEqual(
        [byId.get(viommu)!.kind, byId.get(viommu)!.parent, byId.get(viommu)!.type],
        ['viommu', s2, 'selftest'],
      )
      assert.deepEqual(
        [byId.get(vdev)!.kind, byId.get(vdev)!.parent, byId.get(vdev)!.virtId, byId.get(vdev)!.bdf],
        ['vdevice', viommu, '0x99', DEV],
      )
      assert.equal(byId.get(s1)!.parent, viommu)
      assert.deepEqual(
        refusal(() => e.destroy('vi')),
        {
          code: 'IN_USE',
          message: `Object ${viommu} is in use by hwpt ${s1}, vdevice ${vdev}.`,
        },
      )
      const mark = k.log.length
      e.close()
      const order = k.log.slice(mark)
      const at = (line: string) => order.indexOf(line)
      assert.ok(at(`destroy vdevice ${vdev}`) >= 0)
      assert.ok(at(`destroy vdevice ${vdev}`) < at(`destroy hwpt ${s1}`))
      assert.ok(at(`destroy hwpt ${s1}`) < at(`destroy viommu ${viommu}`))
      assert.ok(at(`destroy viommu ${viommu}`) < at(`destroy hwpt ${s2}`))
      assert.ok(at(`destroy hwpt ${s2}`) < at(`close ${DEV}`), 'the vDEVICE goes before its device is closed')
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('refuses what viommu.c refuses: a parent without nest-parent, a second vDEVICE, a virtual id taken, another IOMMU', () => {
    const k = new FakeKernel([mockLike(DEV), mockLike(OTHER), mockLike('0000:00:05.0', 'iommu1')])
    const e = new Engine(k, null)
    try {
      e.createIoas('main')
      e.createHwpt('plain', 'main', DEV)
      e.createHwpt('s2', 'main', DEV, ['nest-parent'])
      // iommufd_viommu_alloc_ioctl: !hwpt_paging->nest_parent is EINVAL.
      assert.deepEqual(
        refusal(() => e.createViommu(null, 'plain', DEV, 'selftest')),
        {
          code: 'SYSCALL_FAILED',
          message: 'IOMMU_VIOMMU_ALLOC failed (EINVAL): a vIOMMU needs an HWPT allocated with nest-parent.',
          errno: 'EINVAL',
        },
      )
      // mock_get_viommu_size: a type other than IOMMU_VIOMMU_TYPE_SELFTEST is EOPNOTSUPP.
      assert.equal(refusal(() => e.createViommu(null, 's2', DEV, 'arm-smmuv3')).errno, 'EOPNOTSUPP')
      e.createViommu('vi', 's2', DEV, 'selftest')
      e.createVdevice(null, 'vi', DEV, 0x99n)
      // iommufd_vdevice_alloc_ioctl: idev->vdev set is EEXIST; so is a virt_id in the xarray.
      const taken = {
        code: 'SYSCALL_FAILED',
        message:
          'IOMMU_VDEVICE_ALLOC failed (EEXIST): the device already has a vDEVICE, or the vIOMMU already has one with this virtual id.',
        errno: 'EEXIST',
      }
      assert.deepEqual(
        refusal(() => e.createVdevice(null, 'vi', DEV, 0x88n)),
        taken,
      )
      assert.deepEqual(
        refusal(() => e.createVdevice(null, 'vi', OTHER, 0x99n)),
        taken,
      )
      assert.equal(e.createVdevice(null, 'vi', OTHER, 0x88n) > 0, true)
      // viommu->iommu_dev != the device's IOMMU: EINVAL.
      assert.equal(refusal(() => e.createVdevice(null, 'vi', '0000:00:05.0', 0x77n)).errno, 'EINVAL')
      assert.deepEqual(
        e
          .state()
          .objects.filter((o) => o.kind === 'vdevice')
          .map((o) => [o.bdf, o.virtId]),
        [
          [DEV, '0x99'],
          [OTHER, '0x88'],
        ],
      )
    } finally {
      e.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })
})

describe('plans with nested HWPTs', () => {
  const base = {version: 1, ioas: [{name: 'main'}]}
  const nest = [
    {name: 's2', ioas: 'main', device: DEV, flags: ['nest-parent']},
    {name: 's1', parent: 's2', device: DEV, dataType: 'selftest', data: selftestData.toString('hex')},
  ]

  it('builds a nest-parent then a nested HWPT on it, from its data', async () => {
    const k = new FakeKernel([mockLike(DEV)])
    const plan = await validatePlan({...base, hwpts: nest})
    const {engine, steps} = applyPlan(k, plan, null)
    try {
      assert.deepEqual(
        steps.filter((s) => s.entry.startsWith('hwpts')).map((s) => s.what),
        [`HWPT s2 on main for ${DEV} (nest-parent)`, `HWPT s1 on s2 for ${DEV} (nested, selftest data)`],
      )
      const s1 = engine.state().objects.find((o) => o.name === 's1')!
      assert.deepEqual([s1.type, s1.parent], ['selftest', engine.resolve('s2', ['hwpt'])])
    } finally {
      engine.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('refuses, naming the entry, a nested HWPT without data, one with both ioas and parent, a parent not before it, data that is not hex', async () => {
    const bad = async (hwpts: object[]) => {
      try {
        await validatePlan({...base, hwpts})
      } catch (error) {
        return (error as Error).message
      }
      return 'accepted'
    }
    assert.equal(
      await bad([nest[0]!, {name: 's1', parent: 's2', device: DEV}]),
      'hwpts[1]: a nested HWPT (parent) needs dataType and data; a paging one (ioas) takes neither',
    )
    assert.equal(
      await bad([{...nest[1], ioas: 'main'}]),
      'hwpts[0]: give one of ioas (a paging HWPT) and parent (a nested one)',
    )
    assert.equal(
      await bad([nest[1]!, nest[0]!]),
      'hwpts[0].parent: no HWPT named s2 before it, and no vIOMMU of that name',
    )
    assert.match(await bad([nest[0]!, {...nest[1], data: 'xyz'}]), /^hwpts\/1\/data|^hwpts\[1\]\.data/)
  })
})

describe('plans with vIOMMUs and vDEVICEs', () => {
  const base = {version: 1, ioas: [{name: 'main'}]}
  const data = selftestData.toString('hex')
  // As a VMM lays out a guest's SMMU: the stage 2, the vIOMMU on it, the device's vSID, and the
  // guest's stage 1 on the vIOMMU, listed with the other HWPTs.
  const plan = {
    ...base,
    hwpts: [
      {name: 's2', ioas: 'main', device: DEV, flags: ['nest-parent']},
      {name: 's1', parent: 'v0', device: DEV, dataType: 'selftest', data},
    ],
    viommus: [{name: 'v0', hwpt: 's2', device: DEV, type: 'selftest'}],
    vdevices: [{name: 'vd0', viommu: 'v0', device: DEV, virtId: '0x99'}],
    attach: [{device: DEV, to: 's1'}],
  }

  it('makes the HWPTs on a vIOMMU after the vIOMMUs and vDEVICEs, then attaches', async () => {
    const k = new FakeKernel([mockLike(DEV)])
    const {engine, steps} = applyPlan(k, await validatePlan(plan), null)
    try {
      assert.deepEqual(
        steps.map((s) => s.entry),
        ['devices[0]', 'ioas[0]', 'hwpts[0]', 'viommus[0]', 'vdevices[0]', 'hwpts[1]', 'attach[0]'],
      )
      const objects = engine.state().objects
      const id = (name: string) => objects.find((o) => o.name === name)!
      assert.deepEqual([id('v0').kind, id('v0').parent, id('v0').type], ['viommu', id('s2').id, 'selftest'])
      assert.deepEqual([id('vd0').parent, id('vd0').virtId, id('vd0').bdf], [id('v0').id, '0x99', DEV])
      assert.equal(id('s1').parent, id('v0').id)
      assert.equal(objects.find((o) => o.kind === 'device')!.attachedTo, id('s1').id)
    } finally {
      engine.close()
    }
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('a vIOMMU the kernel refuses tears down what was made, naming the entry', async () => {
    // A VT-d-like IOMMU: nest-parent HWPTs, no vIOMMU type (intel_iommu_ops has no viommu_alloc).
    const k = new FakeKernel([{bdf: DEV, nestedData: [U.IOMMU_HWPT_DATA_VTD_S1]}])
    const p = await validatePlan({...plan, hwpts: [plan.hwpts[0]!], vdevices: [], attach: []})
    assert.throws(
      () => applyPlan(k, p, null),
      (e: Error) =>
        /^viommus\[0\] \(vIOMMU v0 \(selftest\) on s2 for 0000:00:03\.0\) failed: .* Everything made before it was torn down\.$/.test(
          e.message,
        ),
    )
    assert.deepEqual(k.leftovers(), nothingLeft)
  })

  it('refuses, naming the field, a vIOMMU on no HWPT or on a nested one, a vDEVICE on no vIOMMU', async () => {
    const bad = async (extra: object) => {
      try {
        await validatePlan({...plan, ...extra})
      } catch (error) {
        return (error as Error).message
      }
      return 'accepted'
    }
    assert.equal(
      await bad({viommus: [{...plan.viommus[0], hwpt: 'nope'}]}),
      'viommus[0].hwpt: no nest-parent HWPT named nope in hwpts',
    )
    assert.equal(
      await bad({viommus: [{...plan.viommus[0], hwpt: 's1'}]}),
      'viommus[0].hwpt: no nest-parent HWPT named s1 in hwpts',
    )
    assert.equal(
      await bad({vdevices: [{...plan.vdevices[0], viommu: 's2'}]}),
      'vdevices[0].viommu: no vIOMMU named s2 in viommus',
    )
    assert.equal(
      await bad({vdevices: [{...plan.vdevices[0], name: 'v0'}]}),
      'vdevices[0].name: the name v0 is used twice',
    )
    assert.match(
      await bad({vdevices: [{...plan.vdevices[0], virtId: '99'}]}),
      /^vdevices\[0\]\.virtId|^vdevices\/0\/virtId/,
    )
  })
})
