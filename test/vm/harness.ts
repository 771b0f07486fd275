import {ChildProcess, execFileSync, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

import {TOPOLOGIES, TopologyName} from './topologies.js'

const here = path.dirname(fileURLToPath(import.meta.url))
export const REPO = path.resolve(here, '../..')
const CACHE =
  process.env.IOMMUCTL_VM_CACHE ??
  path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'iommuctl-vm')
const BUSYBOX = '/bin/busybox'
/**
 * Every guest's timeout is multiplied by this (IOMMUCTL_VM_TIMEOUT_SCALE, default 2). A guest
 * under TCG runs at the speed of the host core it gets: the same command took 10 s and 20 s in
 * one afternoon on this shared 2-core machine, and `npm test` runs two test files at a time. The
 * timeout is for a guest that hangs, not a measure of speed, so it leaves that much room.
 */
const TIMEOUT_SCALE = Number(process.env.IOMMUCTL_VM_TIMEOUT_SCALE ?? 2)

export interface GuestOptions {
  /** Shell command run in the guest, in the checkout, as root. */
  command: string
  /** Kill the guest after this long (times TIMEOUT_SCALE) and report timedOut. */
  timeoutMs?: number
  /** A host directory mounted read-write at /run/share in the guest. */
  shareDir?: string
  /** Extra kernel command line. */
  append?: string
  /**
   * QEMU arguments added after the topology's, for a device one test needs (faults.test.ts adds
   * QEMU's edu), so that the topology, and the fixtures captured from it, stay as they are.
   */
  qemu?: string[]
}

export interface GuestResult {
  topology: TopologyName
  stdout: string
  stderr: string
  /** The command's exit status; null when the guest never reported one (crash, timeout). */
  status: number | null
  timedOut: boolean
  /** The serial console: kernel messages, for diagnosing a guest that failed. */
  console: string
  /** The QEMU process's pid (gone by the time the result is returned). */
  pid: number | undefined
  seconds: number
}

let kernelDir: string | undefined

/** Builds (once per source version and config fragment) and returns the test kernel's directory. */
export function ensureKernel(): string {
  kernelDir ??= execFileSync('bash', [path.join(here, 'build-kernel.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim()
  return kernelDir
}

/** A busybox initramfs whose /init is init.sh, cached by the hash of both. */
export function ensureInitramfs(): string {
  const init = fs.readFileSync(path.join(here, 'init.sh'))
  const busybox = fs.readFileSync(BUSYBOX)
  const hash = createHash('sha256').update(init).update(busybox).digest('hex').slice(0, 12)
  const out = path.join(CACHE, `initramfs-${hash}.cpio.gz`)
  if (fs.existsSync(out)) return out
  fs.mkdirSync(CACHE, {recursive: true})
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-initramfs-'))
  try {
    fs.mkdirSync(path.join(stage, 'bin'))
    fs.writeFileSync(path.join(stage, 'bin/busybox'), busybox, {mode: 0o755})
    fs.writeFileSync(path.join(stage, 'init'), init, {mode: 0o755})
    const partial = `${out}.${process.pid}`
    execFileSync('sh', ['-c', `find . | cpio -o -H newc --quiet | gzip -1 > '${partial}'`], {cwd: stage})
    fs.renameSync(partial, out)
  } finally {
    fs.rmSync(stage, {recursive: true, force: true})
  }
  return out
}

/** Why the VM tier cannot run here, or null when it can. */
export function vmUnavailable(): string | null {
  for (const [tool, why] of [
    ['qemu-system-x86_64', 'QEMU is not installed (run test/vm/setup-host.sh)'],
    [BUSYBOX, 'busybox-static is not installed (run test/vm/setup-host.sh)'],
  ] as const) {
    try {
      execFileSync(tool.startsWith('/') ? 'test' : 'which', tool.startsWith('/') ? ['-x', tool] : [tool])
    } catch {
      return why
    }
  }
  return null
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** Boots a topology, runs one command in it and returns what it printed and its status. */
export async function runInGuest(topology: TopologyName, opts: GuestOptions): Promise<GuestResult> {
  const topo = TOPOLOGIES[topology]
  const kernel = ensureKernel()
  const initrd = ensureInitramfs()
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'iommuctl-vm-'))
  try {
    fs.writeFileSync(path.join(scratch, 'command.sh'), opts.command + '\n')
    fs.writeFileSync(path.join(scratch, 'cwd'), REPO)
    if (topo.setup) fs.writeFileSync(path.join(scratch, 'setup.sh'), topo.setup + '\n')
    const args = [
      ...['-accel', 'tcg', '-cpu', 'max', '-m', '1536', '-smp', '1', '-nodefaults', '-no-reboot'],
      ...['-display', 'none', '-monitor', 'none', '-serial', 'stdio'],
      ...['-kernel', path.join(kernel, 'bzImage'), '-initrd', initrd],
      // no_timer_check: under TCG on a loaded host, check_timer() can miss the IO-APIC timer's
      // ticks and panic ("timer doesn't work through Interrupt-remapped IO-APIC"), seen at boot
      // with several guests running at once; the probe tests nothing these tests are about.
      // mitigations=off: -cpu max makes the guest kernel use retpolines and RSB filling, which
      // TCG emulates slowly; boot to userspace took 7.8-8.3 s without them and 11.3-12.3 s with
      // (two boots each, the same command). Nothing here tests speculation.
      ...[
        '-append',
        `console=ttyS0 panic=-1 quiet loglevel=4 no_timer_check mitigations=off ${topo.append} ${opts.append ?? ''}`.trim(),
      ],
      ...topo.qemu,
      ...(opts.qemu ?? []),
      ...virtfs('host', '/', true, 0x10),
      ...virtfs('scratch', scratch, false, 0x11),
      ...(opts.shareDir ? virtfs('share', opts.shareDir, false, 0x12) : []),
    ]
    if (topo.nvme) {
      const image = path.join(scratch, 'nvme.img')
      fs.writeFileSync(image, '')
      fs.truncateSync(image, 64 << 20)
      args.push('-drive', `if=none,id=nvm0,format=raw,file=${image}`)
    }
    const started = Date.now()
    const {console, timedOut, pid} = await runQemu(args, (opts.timeoutMs ?? 240_000) * TIMEOUT_SCALE)
    const read = (name: string) => {
      try {
        return fs.readFileSync(path.join(scratch, name), 'utf8')
      } catch {
        return null
      }
    }
    const status = read('status')
    return {
      topology,
      stdout: read('stdout') ?? '',
      stderr: read('stderr') ?? '',
      status: status === null || timedOut ? null : Number(status.trim()),
      timedOut,
      console,
      pid,
      seconds: (Date.now() - started) / 1000,
    }
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true})
  }
}

/** A 9p share at a fixed slot, so the topology's own devices keep their addresses. */
function virtfs(tag: string, dir: string, readonly: boolean, slot: number): string[] {
  const ro = readonly ? ',readonly=on' : ''
  return [
    ...['-fsdev', `local,id=fs-${tag},path=${dir},security_model=none,multidevs=remap${ro}`],
    ...['-device', `virtio-9p-pci,fsdev=fs-${tag},mount_tag=${tag},addr=${slot.toString(16)}.0`],
  ]
}

function runQemu(
  args: string[],
  timeoutMs: number,
): Promise<{console: string; timedOut: boolean; pid: number | undefined}> {
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, {stdio: ['ignore', 'pipe', 'pipe']})
    running.add(child)
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      running.delete(child)
      reject(error)
    })
    child.on('close', () => {
      clearTimeout(timer)
      running.delete(child)
      resolve({console: out, timedOut, pid: child.pid})
    })
  })
}

/** A one-line description of a failed guest run, for assertion messages. */
export function explain(r: GuestResult): string {
  const tail = (s: string) => s.split('\n').slice(-25).join('\n')
  return [
    `topology ${r.topology}: status ${r.status}${r.timedOut ? ' (timed out, guest killed)' : ''} after ${r.seconds}s`,
    `--- stderr\n${tail(r.stderr)}`,
    `--- console\n${tail(r.console)}`,
  ].join('\n')
}
