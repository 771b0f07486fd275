import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {assertMatchesSchema} from '../helpers/schema.js'
import {runError, runJson, runScript, vmIt} from './guest.js'
import {explain, runInGuest} from './harness.js'

/**
 * What the 7.2 kernel answers, in order, to each step of test/vm/guest/queues-mock.ts. Each
 * expectation is from tools/testing/selftests/iommu/iommufd.c (and iommufd_utils.h) where a
 * selftest checks it, and from the kernel function that decides it:
 * drivers/iommu/iommufd/eventq.c, hw_pagetable.c, viommu.c, ioas.c, and the mock driver,
 * drivers/iommu/iommufd/selftest.c.
 */
const EXPECTED: [step: string, errno: string][] = [
  // test_ioctl_fault_alloc; iommufd_fault_alloc: flags must be 0, else EOPNOTSUPP.
  ['IOMMU_FAULT_QUEUE_ALLOC', 'ok'],
  ['IOMMU_FAULT_QUEUE_ALLOC with flags', 'EOPNOTSUPP'],
  // alloc_hwpt_nested: test_err_hwpt_alloc_iopf(ENOENT, ..., UINT32_MAX, FAULT_ID_VALID, ...)
  // (iommufd_hwpt_alloc: iommufd_get_fault).
  ['nested HWPT with FAULT_ID_VALID and a fault id that names nothing', 'ENOENT'],
  // iommufd_hwpt_paging_alloc: FAULT_ID_VALID with NEST_PARENT is EOPNOTSUPP (no selftest case).
  ['paging HWPT with FAULT_ID_VALID and NEST_PARENT', 'EOPNOTSUPP'],
  // test_cmd_hwpt_alloc_iopf, test_cmd_mock_domain_replace(stdev_id, iopf_hwpt_id), then
  // EXPECT_ERRNO(EBUSY, _test_ioctl_destroy(iopf_hwpt_id)).
  ['nested HWPT with FAULT_ID_VALID', 'ok'],
  ['attach the device to it', 'ok'],
  ['destroy it while the device is attached', 'EBUSY'],
  // iommufd_fault_fops_read: nothing delivered returns 0 bytes; a count that is not a multiple
  // of sizeof(struct iommu_hwpt_pgfault) is ESPIPE.
  ['read the fault queue before any fault', 'ok'],
  ['read a count that is not a whole number of records', 'ESPIPE'],
  // _test_cmd_trigger_iopf: the trigger, read(), then write() of the response with its cookie.
  ['IOMMU_TEST_OP_TRIGGER_IOPF', 'ok'],
  ['read the page request', 'ok'],
  // iommufd_fault_fops_write: a code other than SUCCESS or INVALID is EINVAL, as is a cookie with
  // no group in fault->response (xa_erase finds none), and a count not a multiple of
  // sizeof(struct iommu_hwpt_page_response) is ESPIPE.
  ['answer with a code that is neither success nor invalid', 'EINVAL'],
  ['answer a cookie no fault group has', 'EINVAL'],
  ['write part of a response', 'ESPIPE'],
  ['answer success', 'ok'],
  // The group was erased from fault->response by the first answer.
  ['answer the same cookie again', 'EINVAL'],
  ['a second page request, answered invalid', 'ok'],
  ['back to the IOAS, then destroy the HWPT', 'ok'],
  // The open descriptor holds a user of the object (iommufd_eventq_init's refcount_inc), so
  // IOMMU_DESTROY is EBUSY until it closes; viommu_alloc_nested_iopf closes, then destroys.
  ['destroy the fault queue while its descriptor is open', 'EBUSY'],
  ['close the descriptor, then destroy the fault queue', 'ok'],
  // vdevice_alloc: "Test depth lower and upper bounds (mirrors kernel cap)": 0 and
  // VEVENTQ_MAX_DEPTH + 1 are EINVAL, VEVENTQ_MAX_DEPTH (1 << 19) works (iommufd_veventq_alloc).
  ['vEVENTQ: depth 0', 'EINVAL'],
  ['vEVENTQ: depth 2^19 + 1', 'EINVAL'],
  ['vEVENTQ: depth 2^19', 'ok'],
  // iommufd_veventq_alloc: type DEFAULT and a non-zero __reserved are EOPNOTSUPP; an id that is
  // no vIOMMU ENOENT (iommufd_get_viommu).
  ['vEVENTQ: type IOMMU_VEVENTQ_TYPE_DEFAULT', 'EOPNOTSUPP'],
  ['vEVENTQ: a vIOMMU id that names nothing', 'ENOENT'],
  ['vEVENTQ: non-zero reserved', 'EOPNOTSUPP'],
  // "Allocate a vEVENTQ with veventq_depth=2", then test_err_veventq_alloc(EEXIST, ...).
  ['vEVENTQ: depth 2', 'ok'],
  ['vEVENTQ: a second of the same type', 'EEXIST'],
  // "Invalid read counts on an empty vEVENTQ": 0 and hdr_size - 1 are EINVAL; a read with room
  // on an empty queue returns 0 bytes (iommufd_veventq_fops_read).
  ['read 0 bytes', 'EINVAL'],
  ['read less than a header', 'EINVAL'],
  ['read the empty vEVENTQ', 'ok'],
  // iommufd_test_trigger_vevent: a device with no vIOMMU or vDEVICE is ENOENT.
  ['IOMMU_TEST_OP_TRIGGER_VEVENT before the device has a vDEVICE', 'ENOENT'],
  ['vDEVICE at virtual id 0x99, attach to the nested HWPT on the vIOMMU', 'ok'],
  ['IOMMU_TEST_OP_TRIGGER_VEVENT', 'ok'],
  // "header fits but the event's payload doesn't": EINVAL.
  ['read a header but not the data after it', 'EINVAL'],
  ['read the vEVENT', 'ok'],
  // "Trigger an overflow with three events": iommufd_viommu_report_event answers 0 and queues
  // the lost-events header instead of the third.
  ['three vEVENTs into a queue of depth 2', 'ok'],
  ['read after the overflow', 'ok'],
  ['one more vEVENT', 'ok'],
  ['read after it', 'ok'],
  ['a new vEVENTQ of depth 1, two vEVENTs', 'ok'],
  ['read room for one vEVENT', 'ok'],
  ['one more vEVENT after it', 'ok'],
  ['read across the gap', 'ok'],
  ['back to the IOAS; destroy the vDEVICE and the vEVENTQ', 'ok'],
  // TEST_F(iommufd_viommu, hw_queue), in its order: type DEFAULT EOPNOTSUPP, length 0 EINVAL,
  // ~0 + PAGE_SIZE EOVERFLOW (iommufd_hw_queue_alloc_ioctl); memory not mapped ENOENT (the pin
  // in iommufd_hw_queue_alloc_phys); then mock_hw_queue_init_phys: index 1 without index 0 EIO,
  // index >= IOMMU_TEST_HW_QUEUE_MAX EINVAL, a taken index EEXIST.
  ['HW queue: type IOMMU_HW_QUEUE_TYPE_DEFAULT', 'EOPNOTSUPP'],
  ['HW queue: length 0', 'EINVAL'],
  ['HW queue: iova + length past 2^64', 'EOVERFLOW'],
  ['HW queue: memory not mapped', 'ENOENT'],
  ['HW queue: index 1 before index 0', 'EIO'],
  ['HW queue: index IOMMU_TEST_HW_QUEUE_MAX', 'EINVAL'],
  ['HW queue: index 0', 'ok'],
  ['HW queue: index 0 again', 'EEXIST'],
  // "Fail unmap, due to iova ownership", "The 2nd page is not pinned, so it can be unmmap".
  ['unmap the memory of queue 0', 'EBUSY'],
  ['unmap the page no queue uses', 'ok'],
  // "Allocate index=1, with an unaligned case".
  ['HW queue: index 1, half a page at an unaligned IOVA', 'ok'],
  // Both of the mock's queues exist: a third index is past IOMMU_TEST_HW_QUEUE_MAX.
  ['HW queue: a third, past the limit', 'EINVAL'],
  // "Fail to destroy, due to dependency" (iommufd_hw_queue_depend), then descending order.
  ['destroy queue 0 while queue 1 depends on it', 'EBUSY'],
  ['destroy queue 1, then 0, then unmap', 'ok'],
  // ioas.c iommufd_option_rlimit_mode: a value other than 0 or 1 is EINVAL; setting it on an
  // iommufd that holds an object EBUSY. FIXTURE_SETUP(change_process) sets it first.
  ['RLIMIT_MODE: set 2', 'EINVAL'],
  ['RLIMIT_MODE: set 1 on an iommufd with no object, and read back', 'ok'],
  ['RLIMIT_MODE: set once the iommufd holds an object', 'EBUSY'],
  // TEST_F(change_process, basic): "Expect failure if non-file maps exist", then a
  // IOMMU_IOAS_MAP_FILE map moves (iommufd_ioas_change_process: IOPT_ADDRESS_FILE only);
  // __reserved is EOPNOTSUPP.
  ['IOMMU_IOAS_CHANGE_PROCESS with a map of process memory', 'EINVAL'],
  ['IOMMU_IOAS_CHANGE_PROCESS with only a map of a memfd', 'ok'],
  ['IOMMU_IOAS_CHANGE_PROCESS with non-zero reserved', 'EOPNOTSUPP'],
]

interface GuestOutput {
  cases: {case: string; errno: string}[]
  reads: Record<string, Record<string, unknown>[]>
  ids: {ioas: number; idev: number; parent: number; viommu: number}
  rlimitMode: number
}

describe('VM: fault queues, vEVENTQs and HW queues on the iommufd selftest mock device', () => {
  vmIt('page faults read and answered, vEVENTs with their sequence, HW queues, change-process', async () => {
    const r = await runInGuest('none', {
      command: 'node --import tsx test/vm/guest/queues-mock.ts',
      timeoutMs: 600_000,
    })
    assert.equal(r.status, 0, explain(r))
    const out: GuestOutput = JSON.parse(r.stdout)
    assert.deepEqual(
      out.cases.map((c) => [c.case, c.errno]),
      EXPECTED,
    )

    // What _test_cmd_trigger_iopf asked for, as iommufd_compose_fault_message reports it: the
    // iommufd id of the device, PASID 1 (so PASID_VALID), group 2, read and write, the address,
    // no length hint, and iommufd_test_trigger_iopf's IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE.
    const request = {
      devId: out.ids.idev,
      pasid: 1,
      grpid: 2,
      perm: ['read', 'write'],
      addr: '0xdeadbeaf',
      length: 0,
      lastPage: true,
      flags: 3,
    }
    assert.deepEqual(out.reads['read the fault queue before any fault'], [])
    assert.deepEqual(out.reads['read the page request'], [request])
    assert.deepEqual(out.reads['a second page request, answered invalid'], [request])

    // iommufd_vevent_handler numbers vEVENTs from 0 per vEVENTQ; iommufd_viommu_report_event
    // queues the lost-events header (flags LOST_EVENTS, no data, the next number) once the
    // queue holds veventq_depth; the mock's data is the device's virtual id
    // (iommufd_test_trigger_vevent).
    const event = (sequence: number, lost = 0) => ({sequence, lostEvents: false, lost, virtId: 0x99})
    assert.deepEqual(out.reads['read the empty vEVENTQ'], [])
    assert.deepEqual(out.reads['read the vEVENT'], [event(0)])
    assert.deepEqual(out.reads['read after the overflow'], [
      event(1),
      event(2),
      {sequence: 3, lostEvents: true, lost: 1, virtId: null},
    ])
    // "Overflow must be gone after the previous reads".
    assert.deepEqual(out.reads['read after it'], [event(4)])
    // The header left behind is replaced by the next vEVENT (list_is_last in
    // iommufd_vevent_handler), so event 1 is missing only from the sequence: a gap of one.
    assert.deepEqual(out.reads['read room for one vEVENT'], [event(0)])
    assert.deepEqual(out.reads['read across the gap'], [event(2, 1)])

    assert.equal(out.rlimitMode, 1)
  })
})

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-queues-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))
const E1000E = '0000:00:03.0'

describe("VM: a session's fault queue on QEMU's VT-d", () => {
  vmIt(
    'intel: an HWPT with a fault queue for the e1000e, the attach the kernel refuses, an empty read',
    async () => {
      const read = await runScript(
        'intel',
        share,
        `ic() { node bin/run.js "$@"; }
ic devices bind ${E1000E} > /dev/null
run start ic session start --timeout 180 --json
run fq ic domains create fault-queue --name fq --json
run ioas ic domains create ioas --name main --json
run hwpt ic domains create hwpt --ioas main --device ${E1000E} --fault-queue fq --name h --json
run attach ic domains attach ${E1000E} h --json
run plain ic domains create hwpt --ioas main --device ${E1000E} --name p --json
run attach2 ic domains attach ${E1000E} p --json
run faults ic domains faults fq --json
run faultstext ic domains faults fq
run follow timeout --preserve-status -s INT 30 node bin/run.js domains faults fq --follow --json
run busy ic domains destroy fq --json
run status ic session status --json
run dh ic domains destroy h --json
run dq ic domains destroy fq --json
run stop ic session stop --json`,
        600_000,
      )
      runJson(read('start'), 'session-start')
      const fq = runJson(read('fq'), 'object-id').id
      const hwpt = runJson(read('hwpt'), 'object-id').id
      // iommufd_hwpt_alloc takes IOMMU_HWPT_FAULT_ID_VALID on a paging HWPT (iommufd_hwpt_paging_alloc
      // refuses it only with NEST_PARENT) and sets the domain's iopf_handler. The attach turns page
      // faults on for the device: intel_iommu_attach_device -> iopf_for_domain_set ->
      // intel_iommu_enable_iopf, which is ENODEV unless PRI is enabled (info->pri_enabled), and the
      // e1000e has no PRI capability.
      const refused = runError(read('attach'), 'SYSCALL_FAILED', 1)
      assert.equal(refused.errno, 'ENODEV', refused.message)
      assert.match(refused.message, /PRI/)
      // The same device attaches to an HWPT without a fault queue: the refusal was the queue's.
      runJson(read('plain'), 'object-id')
      runJson(read('attach2'), 'object-id')
      // Nothing was delivered: a read returns at once with no requests, in JSON and in text.
      assert.deepEqual(runJson(read('faults'), 'session-faults'), {faults: []})
      assert.equal(read('faultstext').rc, 0)
      assert.match(read('faultstext').out, /no page requests in fq/)
      // --follow ends on SIGINT with status 0 and, having had nothing to print, prints nothing.
      assert.equal(read('follow').rc, 0, read('follow').err)
      assert.equal(read('follow').out, '')
      // The HWPT holds the queue: the destroy is refused and names it.
      assert.match(runError(read('busy'), 'IN_USE', 1).message, new RegExp(`hwpt ${hwpt}`))
      const status = runJson(read('status'), 'session-state')
      const byId = (id: number) => status.objects.find((o: {id: number}) => o.id === id)
      assert.equal(byId(fq).kind, 'fault-queue')
      assert.equal(byId(hwpt).faultQueue, fq)
      // Once the HWPT is gone the queue goes (its descriptor closed first, else EBUSY).
      runJson(read('dh'), 'done')
      runJson(read('dq'), 'done')
      runJson(read('stop'), 'session-stop')
    },
  )
})

describe("VM: a session's fault queue fed by a device in the session's own iommufd", () => {
  vmIt('page requests read, answered by cookie, followed and answered as they come', async () => {
    // The daemon's first objects: fault queue 1, IOAS 2 (lowest free id, XA_FLAGS_ALLOC1).
    const read = await runScript(
      'none',
      share,
      `ic() { node bin/run.js "$@"; }
field() { python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]: v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$@"; }
run start ic session start --timeout 180 --json
run fq ic domains create fault-queue --name fq --json
run ioas ic domains create ioas --name main --json
SP=$(cat /run/iommuctl/sessions/default.pid)
g() { python3 test/vm/guest/pidfd-getfd.py $SP /dev/iommu node --import tsx test/vm/guest/session-iopf.ts "$@"; }
run setup g setup 2 1
IDEV=$(field $dir/setup.out idev)
run empty ic domains faults fq --json
run trig1 g trigger $IDEV 2
run read1 ic domains faults fq --json
run read1b ic domains faults fq --json
C=$(field $dir/read1.out faults 0 cookie)
run answer ic domains respond fq $C success --json
run answer2 ic domains respond fq $C success --json
run trig2 g trigger $IDEV 3
run text ic domains faults fq --respond invalid
node bin/run.js domains faults fq --follow --respond success --json > $dir/follow.out 2> $dir/follow.err &
FP=$!
run trig3 g trigger $IDEV 4
run trig4 g trigger $IDEV 5
for i in $(seq 600); do [ $(wc -l < $dir/follow.out) -ge 2 ] && break; sleep 0.2; done
kill -INT $FP; wait $FP; echo $? > $dir/follow.rc
C4=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[1])["cookie"])' $dir/follow.out)
run answer4 ic domains respond fq $C4 invalid --json
run end ic domains faults fq --json
run teardown g teardown $(field $dir/setup.out stdev) $(field $dir/setup.out hwpt) $(field $dir/setup.out parent)
run stop ic session stop --json`,
      600_000,
    )
    runJson(read('start'), 'session-start')
    assert.deepEqual(runJson(read('fq'), 'object-id'), {id: 1})
    assert.deepEqual(runJson(read('ioas'), 'object-id'), {id: 2})
    assert.equal(read('setup').rc, 0, read('setup').err)
    const ids = JSON.parse(read('setup').out)
    for (const t of ['trig1', 'trig2', 'trig3', 'trig4', 'teardown'])
      assert.equal(read(t).rc, 0, `${t}: ${read(t).err}`)

    // What iommufd_compose_fault_message made of the mock's request (iommufd_test_trigger_iopf:
    // IOMMU_FAULT_PAGE_REQUEST_LAST_PAGE, PASID valid), through the daemon: the device is the
    // kernel's id, with no address, because the session did not bind it.
    const request = (grpid: number, response: string | null) => ({
      queue: 1,
      device: null,
      devId: ids.idev,
      pasid: 1,
      grpid,
      perm: ['read', 'write'],
      addr: '0xdeadbeaf',
      length: 0,
      lastPage: true,
      flags: 3,
      response,
    })
    const withoutCookie = (f: Record<string, unknown>) => {
      assert.equal(typeof f.cookie, 'number')
      return Object.fromEntries(Object.entries(f).filter(([k]) => k !== 'cookie'))
    }
    assert.deepEqual(runJson(read('empty'), 'session-faults'), {faults: []})
    const read1 = runJson(read('read1'), 'session-faults')
    assert.deepEqual(read1.faults.map(withoutCookie), [request(2, null)])
    // Read is taken: the group waits in fault->response, no longer in the deliver list.
    assert.deepEqual(runJson(read('read1b'), 'session-faults'), {faults: []})
    // Answered by cookie once; the second answer finds no group (iommufd_fault_fops_write: EINVAL).
    runJson(read('answer'), 'done')
    const twice = runError(read('answer2'), 'SYSCALL_FAILED', 1)
    assert.equal(twice.errno, 'EINVAL')
    assert.match(twice.message, /no fault group is waiting on that cookie/)
    // Text: one line per request with the answer it got.
    assert.equal(read('text').rc, 0, read('text').err)
    assert.match(
      read('text').out,
      new RegExp(
        `^dev ${ids.idev} pasid 1 grp 3 read,write 0xdeadbeaf cookie \\d+ last, answered invalid$`,
        'm',
      ),
    )
    // --follow --json: one JSON line per request as it came, each answered, status 0 on SIGINT.
    assert.equal(read.file('follow.rc').trim(), '0', read.file('follow.err'))
    const lines = read
      .file('follow.out')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    for (const l of lines) assertMatchesSchema('session-fault', l)
    assert.deepEqual(lines.map(withoutCookie), [request(4, 'success'), request(5, 'success')])
    // The follow answered group 5 already: the kernel refuses a second answer.
    assert.equal(runError(read('answer4'), 'SYSCALL_FAILED', 1).errno, 'EINVAL')
    assert.deepEqual(runJson(read('end'), 'session-faults'), {faults: []})
    // The mock device gone, the daemon tears down its own objects cleanly.
    runJson(read('stop'), 'session-stop')
  })
})
