import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {after, describe} from 'node:test'

import {Json, runError as error, runJson as json, runScript, vmIt} from './guest.js'

const share = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-live-'))
after(() => fs.rmSync(share, {recursive: true, force: true}))

const E1000E = '0000:00:03.0'
/** The session's map: 64 KiB of anonymous memory (16 pages) at a fixed IOVA. */
const IOVA = 0x1_0000_0000n
const PAGES = 16

const hexOf = (v: bigint) => `0x${v.toString(16)}`

/**
 * The e1000e's line of dmar_translation_struct, read by the test itself: print_tbl_walk's tab
 * separated fields (drivers/iommu/intel/debugfs.c), the PASID-table entry printed as qwords 2:1:0.
 */
function rawEntry(dump: string, rid: string, pasid: number): {q0: bigint; q1: bigint; q2: bigint} {
  const line = dump.split('\n').find((l) => l.startsWith(`${rid}\t`) && Number(l.split('\t')[3]) === pasid)
  assert.ok(line, `no entry for ${rid} PASID ${pasid} in:\n${dump}`)
  const [q2, q1, q0] = line
    .split('\t')[4]!
    .split(':')
    .map((v) => BigInt(v))
  return {q0: q0!, q1: q1!, q2: q2!}
}

describe('VM: live domains and IOVA translation from debugfs', () => {
  vmIt(
    "intel: a session-held e1000e is user-owned with its DID; translate matches the holder's pagemap",
    async () => {
      const read = await runScript(
        'intel',
        share,
        `ic() { node bin/run.js "$@"; }
D=/sys/kernel/debug/iommu/intel
ic devices bind ${E1000E} > /dev/null
run start ic session start --timeout 180 --json
run ioas ic domains create ioas --name main --no-huge-pages --json
run map ic domains map main 64K --iova ${hexOf(IOVA)} --json
run attach ic domains attach ${E1000E} main --json
PID=$(cat /run/iommuctl/sessions/default.pid)
echo $PID > $dir/pid
run list ic domains list --json
cat $D/dmar_translation_struct > $dir/dmar.txt
cat $D/${E1000E}/domain_translation_struct > $dir/pt.txt
run tr0 ic domains translate ${E1000E} ${hexOf(IOVA)} --json
run tr1 ic domains translate ${E1000E} ${hexOf(IOVA + 0x1123n)} --json
run tr15 ic domains translate ${E1000E} ${hexOf(IOVA + BigInt((PAGES - 1) * 4096))} --json
run past ic domains translate ${E1000E} ${hexOf(IOVA + BigInt(PAGES * 4096))} --json
run far ic domains translate ${E1000E} 0x200000000 --json
run text ic domains translate ${E1000E} ${hexOf(IOVA)}
run pasid ic domains translate ${E1000E} ${hexOf(IOVA)} --pasid 1 --json
run snap ic snapshot --debugfs --dir /run/tmp/snap --json
run snaplist ic domains list --root /run/tmp/snap --json
run snaptr ic domains translate ${E1000E} ${hexOf(IOVA + 0x1123n)} --root /run/tmp/snap --json
run unit ic units show dmar0 --json
run unittext ic units show dmar0
cat /proc/interrupts > $dir/interrupts.txt
run badiova ic domains translate ${E1000E} 4096 --json
PFNS=$(for t in tr0 tr1 tr15; do node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if (o.physicalAddress) console.log((BigInt(o.physicalAddress)>>12n).toString(16))' $dir/$t.out; done)
python3 test/vm/guest/pagemap.py $PID $PFNS > $dir/pagemap.txt 2> $dir/pagemap.err
run stop ic session stop --json
run nobody setpriv --reuid=nobody --regid=nogroup --clear-groups env IOMMUCTL_SESSION_DIR=/run/tmp/none node bin/run.js domains list --json
run unitnobody setpriv --reuid=nobody --regid=nogroup --clear-groups node bin/run.js units show dmar0 --json
run after ic domains list --json
umount -l /sys/kernel/debug
run unmounted ic domains list --json
run trunmounted ic domains translate ${E1000E} ${hexOf(IOVA)} --json`,
        900_000,
      )

      const list = json(read('list'), 'domains')
      assert.equal(list.live.source, 'debugfs', JSON.stringify(list.live.debugfs))
      const dev = (l: Json, bdf: string) => l.live.devices.find((d: Json) => d.bdf === bdf)
      const e1000e = dev(list, E1000E)
      assert.equal(e1000e.owner, 'user')
      assert.equal(e1000e.driver, 'vfio-pci')
      // The session daemon has the cdev open: it bound it to its iommufd.
      const daemon = Number(read.file('pid').trim())
      assert.ok(
        e1000e.heldBy.some((h: Json) => h.pid === daemon),
        `daemon ${daemon} not among ${JSON.stringify(e1000e.heldBy)}`,
      )
      const rid0 = e1000e.attachments.find((a: Json) => a.pasid === 0)
      assert.ok(rid0, JSON.stringify(e1000e))

      // Scalable mode (x-scalable-mode=on): the requests without PASID use the entry of PASID 0
      // (IOMMU_NO_PASID). Its DID is bits 15:0 of qword 1 (pasid.h pasid_get_domain_id), and
      // iommufd's domain is a new one: from IDA_START_DID (2) up (iommu.h), and no kernel device's.
      const raw = rawEntry(read.file('dmar.txt'), '00:03.0', 0)
      const did = Number(raw.q1 & 0xffffn)
      assert.equal(rid0.domainId, did)
      assert.ok(did >= 2, `DID ${did}`)
      const kernelDevices = list.live.devices.filter(
        (d: Json) => d.owner === 'kernel' && d.attachments.length,
      )
      assert.ok(kernelDevices.length >= 3, JSON.stringify(list.live.devices))
      for (const d of kernelDevices) assert.notEqual(d.attachments[0].domainId, did, d.bdf)
      // The emulated unit has no first-level translation (no x-flts): the domain is second-level,
      // PGTT 2 (bits 8:6 of qword 0).
      assert.equal(Number((raw.q0 >> 6n) & 7n), 2)
      assert.equal(rid0.translation, 'second-level')
      // The page-table root: the header of the device's own dump (domain_translation_struct_show's
      // "Device ... with pasid 0 @0x%llx"), another file than the one the entry came from.
      const header = /^Device 0000:00:03\.0 with pasid 0 @(0x[0-9a-f]+)$/m.exec(read.file('pt.txt'))
      assert.ok(header, read.file('pt.txt'))
      assert.equal(rid0.pageTableRoot, header[1])

      // A device on its kernel driver: the nvme on its DMA default domain, translated second-level.
      const nvme = list.live.devices.find((d: Json) => d.driver === 'nvme')
      assert.ok(nvme, JSON.stringify(list.live.devices))
      assert.equal(nvme.owner, 'kernel')
      assert.match(nvme.defaultDomain, /^DMA/)
      assert.equal(nvme.attachments[0].translation, 'second-level')
      assert.ok(nvme.attachments[0].domainId >= 2)

      // translate: each page's physical address is a page frame of the session daemon's, at the
      // same offsets in its address space as in the IOVA space (its /proc/PID/pagemap, read as
      // root: the memory it mmap'd and iommufd pinned when the device was attached).
      const tr0 = json(read('tr0'), 'domains-translate')
      const tr1 = json(read('tr1'), 'domains-translate')
      const tr15 = json(read('tr15'), 'domains-translate')
      for (const t of [tr0, tr1, tr15]) {
        assert.equal(t.mapped, true, JSON.stringify(t))
        assert.equal(t.pageSize, 4096)
        assert.equal(t.readable, true)
        assert.equal(t.writable, true)
        assert.equal(t.steps.at(-1).level, 1)
      }
      assert.equal(BigInt(tr1.physicalAddress) & 0xfffn, 0x123n)
      const vaOf = new Map(
        read
          .file('pagemap.txt')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' ').map((v) => BigInt(`0x${v}`)) as [bigint, bigint]),
      )
      const va = (t: Json) => vaOf.get(BigInt(t.physicalAddress) >> 12n)
      assert.ok(
        va(tr0) !== undefined,
        `${tr0.physicalAddress} is no page of the daemon: ${read.file('pagemap.txt')}${read.file('pagemap.err')}`,
      )
      assert.equal(va(tr1), va(tr0)! + 0x1000n)
      assert.equal(va(tr15), va(tr0)! + BigInt((PAGES - 1) * 4096))

      // Outside the map. One page past its end: same page directory (same 2 MiB), no PTE: the walk
      // stops at level 1. At 8 GiB: index 8 of the level-3 table where the map has index 4
      // (IOVA bits 38:30): it stops at level 3, under the PML4E the map's walk goes through.
      const past = json(read('past'), 'domains-translate')
      assert.equal(past.mapped, false)
      assert.equal(past.stoppedAt, 1)
      const far = json(read('far'), 'domains-translate')
      assert.equal(far.mapped, false)
      assert.equal(far.stoppedAt, 3)
      assert.equal(far.steps.at(-1).index, 8)
      if (far.levels === 4) assert.equal(far.steps[0].entry, tr0.steps[0].entry)
      assert.match(
        read('text').out,
        new RegExp(`${hexOf(IOVA)} -> ${tr0.physicalAddress} \\(page 4096 bytes, read\\+write\\)`),
      )

      // No PASID 1 is attached: the kernel makes no directory for it.
      error(read('pasid'), 'NO_PAGE_TABLE', 3)
      error(read('badiova'), 'BAD_IOVA', 2)

      // snapshot --debugfs: the same answers offline, from the files it copied.
      json(read('snap'), 'snapshot')
      const snapE1000e = dev(json(read('snaplist'), 'domains'), E1000E)
      assert.deepEqual(snapE1000e.attachments, e1000e.attachments)
      assert.equal(snapE1000e.owner, 'unknown')
      const snapTr = json(read('snaptr'), 'domains-translate')
      assert.equal(snapTr.physicalAddress, tr1.physicalAddress)

      // units show: the registers now (iommu_regset reads the hardware) beside sysfs's cap, which
      // the kernel read once at boot: the same unit, so the same value. Translation is on (the
      // entries above were dumped, which dmar_translation_struct_show does only with GSTS.TES);
      // interrupt remapping is (intremap=on, and /proc/interrupts has the IR- chips of
      // irq_remapping.c); queued invalidation is enabled exactly when ecap has QI (dmar_enable_qi).
      const unit = json(read('unit'), 'unit')
      assert.equal(unit.live.state, 'read', unit.live.note)
      assert.equal(BigInt(unit.live.registers.CAP), BigInt(unit.vtd.cap))
      assert.equal(BigInt(unit.live.registers.ECAP), BigInt(unit.vtd.ecap))
      assert.equal(unit.live.gsts.tes, true)
      assert.match(read.file('interrupts.txt'), /IR-(PCI-MSI|IO-APIC)/)
      assert.equal(unit.live.gsts.ires, true)
      assert.equal(unit.live.gsts.qies, unit.vtd.ecapFields.qi)
      assert.equal(unit.live.fsts.ppf, false)
      assert.match(read('unittext').out, /^global status\n {2}tes +yes$/m)
      const unitNobody = json(read('unitnobody'), 'unit')
      assert.equal(unitNobody.live.state, 'not-root')
      assert.equal(unitNobody.live.registers, null)
      assert.equal(unitNobody.vtd.cap, unit.vtd.cap)

      // As nobody: debugfs is root's, so sysfs's answer only, and why.
      const nobody = json(read('nobody'), 'domains')
      assert.equal(nobody.live.source, 'sysfs')
      assert.equal(nobody.live.debugfs.state, 'not-root')
      assert.ok(nobody.defaultDomains.length > 0)

      // Once the session is gone nobody holds the e1000e: the kernel put its default domain back.
      json(read('stop'), 'session-stop')
      const afterStop = dev(json(read('after'), 'domains'), E1000E)
      assert.equal(afterStop.owner, 'kernel')
      assert.deepEqual(afterStop.heldBy, [])
      // Its default domain, second-level again. (Its DID may be the user domain's: DIDs are taken
      // per unit on attach and given back on the last detach, lowest free first, iommu.c
      // domain_attach_iommu.)
      assert.equal(afterStop.attachments[0]?.translation, 'second-level')

      // debugfs unmounted: said, and the sysfs answer still given.
      const unmounted = json(read('unmounted'), 'domains')
      assert.equal(unmounted.live.source, 'sysfs')
      assert.equal(unmounted.live.debugfs.state, 'not-mounted')
      assert.deepEqual(unmounted.defaultDomains, list.defaultDomains)
      error(read('trunmounted'), 'DEBUGFS_UNAVAILABLE', 3)
    },
  )

  vmIt(
    "amd: each device's DTE through devid and devtbl; a session's domain replaces the identity one",
    async () => {
      const read = await runScript(
        'amd',
        share,
        `ic() { node bin/run.js "$@"; }
D=/sys/kernel/debug/iommu/amd
dte() { echo ${E1000E} > $D/devid; cat $D/devtbl > $dir/$1.devtbl; }
dte identity
echo 0000:00:1f.0 > $D/devid
run list ic domains list --json
run text ic domains list
cat $D/devid > $dir/devid-after
ic devices bind ${E1000E} > /dev/null
run start ic session start --timeout 180 --json
run ioas ic domains create ioas --name main --json
run map ic domains map main 64K --json
run attach ic domains attach ${E1000E} main --json
run held ic domains list --json
run translate ic domains translate ${E1000E} 0x0 --json
dte held
run snap ic snapshot --debugfs -o $dir/snap.tar.gz --json
run plainsnap ic snapshot -o $dir/plain.tar.gz --json
run stop ic session stop --json
run offlist ic domains list --root $dir/snap.tar.gz --json
run offplain ic domains list --root $dir/plain.tar.gz --json
run offunit ic units show ivhd0 --root $dir/snap.tar.gz --json
run nobody setpriv --reuid=nobody --regid=nogroup --clear-groups env IOMMUCTL_SESSION_DIR=/run/tmp/none node bin/run.js domains list --json
M=$D/iommu00/mmio
for o in 0x18 0x30 0x2020; do echo $o > $M; cat $M >> $dir/mmio.txt; done
echo 0x2008 > $M
run unit ic units show ivhd0 --json
run unittext ic units show ivhd0
cat $M > $dir/mmio-after
cat /sys/class/iommu/ivhd0/amd-iommu/features > $dir/features`,
        600_000,
      )
      // The DTE's qwords as the test reads devtbl itself, and its fields by the AMD IOMMU spec's
      // bit positions (48882, Device Table Entry): Mode 11:9, the host table root 51:12, GV 55,
      // DomainID 79:64.
      const raw = (name: string) => {
        const line = read.file(`${name}.devtbl`).split('\n')[1]!.trim().split(' ')
        assert.equal(line[0], E1000E, read.file(`${name}.devtbl`))
        const [q3, q2, q1, q0] = line.slice(1, 5).map((q) => BigInt(`0x${q}`))
        return {
          qwords: [q0, q1, q2, q3].map((q) => `0x${q!.toString(16)}`),
          mode: Number((q0! >> 9n) & 7n),
          root: `0x${(q0! & 0xf_ffff_ffff_f000n).toString(16)}`,
          gv: (q0! >> 55n) & 1n,
          domainId: Number(q1! & 0xffffn),
        }
      }
      const dev = (l: Json) => l.live.devices.find((d: Json) => d.bdf === E1000E)

      // Its group is identity (iommu=pt): the DTE passes DMA through, in the identity domain.
      const list = json(read('list'), 'domains')
      assert.equal(list.live.source, 'debugfs', JSON.stringify(list.live.debugfs))
      const identity = raw('identity')
      const before = dev(list)
      assert.equal(before.defaultDomain, 'identity')
      assert.equal(before.attachments.length, 1, JSON.stringify(before))
      assert.deepEqual(before.attachments[0].deviceTableEntry, identity.qwords)
      assert.equal(before.attachments[0].translation, 'pass-through')
      assert.equal(before.attachments[0].domainId, identity.domainId)
      assert.equal(identity.mode, 0)
      for (const d of list.live.devices) assert.equal(d.attachments[0]?.translation, 'pass-through', d.bdf)
      assert.match(read('text').out, /0000:00:03\.0.*pass-through/)
      // What another reader had chosen in devid is there again.
      assert.equal(read.file('devid-after').trim(), '0000:00:1f.0')

      // Held by a session on an IOAS: a page table of the kernel's (a v1 table: GV clear), in a
      // domain of its own, owned by the user.
      for (const step of ['start', 'ioas', 'map', 'attach']) assert.equal(read(step).rc, 0, read(step).out)
      const held = raw('held')
      const now = dev(json(read('held'), 'domains'))
      assert.equal(now.owner, 'user')
      const a = now.attachments[0]
      assert.deepEqual(a.deviceTableEntry, held.qwords)
      assert.ok(held.mode >= 1 && held.mode <= 6, `mode ${held.mode}`)
      assert.equal(held.gv, 0n)
      assert.equal(a.translation, 'v1-page-table')
      assert.deepEqual([a.levels, a.pageTableRoot, a.domainId], [held.mode, held.root, held.domainId])
      assert.notEqual(a.domainId, identity.domainId)
      // AMD-Vi's debugfs has no page-table dump to walk: said, with where the DTE is.
      assert.match(error(read('translate'), 'NO_PAGE_TABLE', 3).message, /AMD-Vi unit .* dumps no page table/)

      // snapshot --debugfs keeps what devtbl answered for each device while the session held the
      // e1000e: offline, the same DTE and fields; a unit's registers as read live. Without
      // --debugfs the snapshot has no answers, and says so.
      assert.equal(read('snap').rc, 0, read('snap').out + read('snap').err)
      const offList = json(read('offlist'), 'domains')
      assert.equal(offList.live.source, 'debugfs', JSON.stringify(offList.live.debugfs))
      assert.deepEqual(dev(offList).attachments, now.attachments)
      // Who holds it is /proc's to say, which a snapshot does not keep.
      assert.equal(dev(offList).owner, 'unknown')
      const plain = dev(json(read('offplain'), 'domains'))
      assert.ok(
        plain.attachments.every((x: Json) => x.deviceTableEntry === null),
        JSON.stringify(plain),
      )
      assert.match(plain.note, /captured without debugfs/)

      // As nobody: devid is root's, so sysfs's answer, and why.
      const nobody = json(read('nobody'), 'domains')
      assert.equal(nobody.live.source, 'sysfs')
      assert.equal(nobody.live.debugfs.state, 'not-root')
      assert.match(dev(nobody).note, /run as root/)

      // units show: the MMIO registers as the test reads them through the unit's mmio file, the
      // Control bits of a unit in use (IommuEn, the command buffer and the event log on: init.c's
      // iommu_enable, iommu_enable_command_buffer, iommu_enable_event_buffer); EFR as sysfs has it.
      const mmio = Object.fromEntries(
        read
          .file('mmio.txt')
          .trim()
          .split('\n')
          .map((l) => /^Offset:(0x[0-9a-f]+) Value:0x([0-9a-f]+)$/.exec(l)!)
          .map((m) => [Number(m[1]), `0x${BigInt(`0x${m[2]}`).toString(16)}`]),
      )
      const unit = json(read('unit'), 'unit')
      assert.equal(unit.live.state, 'read', JSON.stringify(unit.live))
      assert.equal(unit.live.registers.Control, mmio[0x18])
      assert.equal(unit.live.registers.ExtendedFeatures, mmio[0x30])
      assert.equal(unit.live.registers.Status, mmio[0x2020])
      // The snapshot taken with --debugfs kept the registers it read the same way.
      const offUnit = json(read('offunit'), 'unit')
      assert.equal(offUnit.live.state, 'read', JSON.stringify(offUnit.live))
      assert.equal(offUnit.live.registers.Control, mmio[0x18])
      assert.equal(offUnit.live.registers.ExtendedFeatures, mmio[0x30])
      assert.deepEqual(
        [unit.live.control.iommuEnabled, unit.live.control.commandBuffer, unit.live.control.eventLog],
        [true, true, true],
      )
      assert.equal(
        BigInt(unit.live.registers.ExtendedFeatures),
        BigInt(`0x${read.file('features').split(':')[0]!.trim()}`),
      )
      assert.match(read('unittext').out, /control[\s\S]*iommuEnabled\s+yes/)
      // The offset chosen before (0x2008) is chosen again.
      assert.match(read.file('mmio-after'), /^Offset:0x2008 /)
    },
  )
})
