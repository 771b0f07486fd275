// What a hand-off child is started with: its argv (the VMM's arguments appended, setpriv in front
// for --user), its environment, and its RLIMIT_MEMLOCK. Shared by `exec` and `fds receive`.
import {ExitCode, IommuctlError} from '../errors.js'
import {Bdf} from '../records.js'
import {FIRST_HANDOFF_FD, runChild} from './child.js'
import {ChildUser, findSetpriv, parseMemlock, resolveUser, setprivArgv, UNLIMITED} from './privilege.js'
import {ChildRecord} from './records.js'

export type Vmm = 'qemu' | 'cloud-hypervisor'

/**
 * The arguments that give a VMM the iommufd at fd 3 and `devices` cdevs at 4, 5, ...:
 * QEMU's `-object iommufd,fd=` with one `-device vfio-pci,iommufd=,fd=` each (docs/devel/vfio-iommufd.rst),
 * cloud-hypervisor's `--platform iommufd_fd=` and `--device fd=`.
 */
export function vmmArgs(vmm: Vmm, devices: number): string[] {
  const fds = Array.from({length: devices}, (_, i) => FIRST_HANDOFF_FD + 1 + i)
  if (vmm === 'qemu')
    return [
      '-object',
      `iommufd,id=iommufd0,fd=${FIRST_HANDOFF_FD}`,
      ...fds.flatMap((fd) => ['-device', `vfio-pci,iommufd=iommufd0,fd=${fd}`]),
    ]
  return ['--platform', `iommufd_fd=${FIRST_HANDOFF_FD}`, ...fds.flatMap((fd) => ['--device', `fd=${fd}`])]
}

/** IOMMUCTL_IOMMUFD_FD and IOMMUCTL_DEVICE_FDS ("BDF=FD,..."), as apply --exec sets them. */
export function handoffEnv(devices: readonly {bdf: Bdf; fd: number}[]): Record<string, string> {
  return {
    IOMMUCTL_IOMMUFD_FD: String(FIRST_HANDOFF_FD),
    IOMMUCTL_DEVICE_FDS: devices.map((d) => `${d.bdf}=${d.fd}`).join(','),
  }
}

/** The argv to spawn: setpriv's prefix when the child runs as another user, the command, the VMM's arguments. */
export function childArgv(
  command: readonly string[],
  appended: readonly string[],
  user: {setpriv: string; user: ChildUser} | null,
): string[] {
  return [...(user ? setprivArgv(user.setpriv, user.user) : []), ...command, ...appended]
}

/** Raises (or sets) RLIMIT_MEMLOCK of this process, which the child inherits; explained on refusal. */
export async function setMemlock(bytes: bigint): Promise<void> {
  const {setMemlockLimit} = await import('../native/socket.js')
  try {
    setMemlockLimit(bytes)
  } catch (error) {
    const errno = (error as {errnoName?: string}).errnoName
    throw new IommuctlError(
      'MEMLOCK_REFUSED',
      `Cannot set RLIMIT_MEMLOCK to ${bytes === UNLIMITED ? 'unlimited' : `${bytes} bytes`} (${errno}): raising the hard limit needs CAP_SYS_RESOURCE.`,
      {
        errno,
        exit: ExitCode.failure,
        suggestion: 'Run iommuctl as root, or ask for no more than the hard limit (ulimit -H -l).',
      },
    )
  }
}

/** --memlock for a record: bytes, or 'unlimited'. */
export function memlockValue(bytes: bigint | undefined): number | 'unlimited' | null {
  if (bytes === undefined) return null
  return bytes === UNLIMITED ? 'unlimited' : Number(bytes)
}

/** How a child ended, for people. */
export function ended(c: {code: number | null; signal: string | null; status: number}): string {
  return c.signal ? `was killed by ${c.signal} (status ${c.status})` : `exited with ${c.code}`
}

/** "256 MiB" for people. */
export function humanBytes(bytes: number | 'unlimited'): string {
  if (bytes === 'unlimited') return 'unlimited'
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const)
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`
  return `${bytes} bytes`
}

/** Who the child runs as and with what limit, from the flags; checked before anything is opened. */
export interface ChildPlan {
  user: {setpriv: string; user: ChildUser} | null
  memlock: bigint | undefined
}

export function planChild(flags: {user?: string; group?: string[]; memlock?: string}): ChildPlan {
  const memlock = flags.memlock === undefined ? undefined : parseMemlock(flags.memlock)
  if (!flags.user) return {user: null, memlock}
  const user = resolveUser(flags.user, flags.group ?? [])
  return {user: {setpriv: findSetpriv(), user}, memlock}
}

/**
 * Starts the child with `fds` at 3, 4, ... and waits for it. This process's copies are closed
 * as soon as it runs (`release`), so the child alone holds the descriptors: when it exits, the
 * devices are free.
 */
export async function startChild(
  plan: ChildPlan,
  command: readonly string[],
  appended: readonly string[],
  devices: readonly {bdf: Bdf; fd: number}[],
  fds: readonly number[],
  release: () => void,
  onStart: (pid: number, argv: string[]) => void,
): Promise<ChildRecord> {
  if (plan.memlock !== undefined) await setMemlock(plan.memlock)
  const argv = childArgv(command, appended, plan.user)
  const env = handoffEnv(devices)
  const child = await runChild(argv, {
    fds,
    env: {...process.env, ...env},
    onStart: (pid) => {
      release()
      onStart(pid, argv)
    },
  }).finally(release)
  return {
    user: plan.user?.user ?? null,
    memlock: memlockValue(plan.memlock),
    command: [...command],
    appended: [...appended],
    env: env as ChildRecord['env'],
    child,
  }
}
