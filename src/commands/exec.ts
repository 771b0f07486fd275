import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode, IommuctlError} from '../errors.js'
import {FIRST_HANDOFF_FD} from '../handoff/child.js'
import {checkHandoffDevices, HandoffDevice} from '../handoff/devices.js'
import {childFlags} from '../handoff/flags.js'
import {ended, humanBytes, memlockValue, planChild, startChild, vmmArgs} from '../handoff/launch.js'
import {ExecArgsRecord, ExecRecord} from '../handoff/records.js'

export default class Exec extends BaseCommand<typeof Exec> {
  static description = `What a VMM needs to take devices itself, as libvirt's privileged half gives it: /dev/iommu opened with IOMMU_OPTION_RLIMIT_MODE set to 1 (pinned memory charged to the VMM process's RLIMIT_MEMLOCK, not to its user; --no-rlimit-mode leaves the kernel's default), and each device's VFIO cdev opened, all read-write, nothing bound and no object made: the VMM binds the devices and builds its own IOAS (QEMU's vfio-pci always does, and the kernel refuses a second bind). \`apply --exec\` is for children that want objects already built.

Before anything is opened every device is checked: on vfio-pci or a VFIO variant driver (else the \`devices bind\` that fixes it), its IOMMU group viable (else the devices that block it), its cdev present (exit 3 on a kernel without CONFIG_VFIO_DEVICE_CDEV), and not open in another process (the pid and command named). --check then proves the hand-off on descriptors of its own (bind, attach to a fresh IOAS, map a page, unmap, detach, close) before opening the child's.

The command runs with the iommufd at fd 3 and the cdevs at fd 4, 5, ... in --device order, also named in IOMMUCTL_IOMMUFD_FD and IOMMUCTL_DEVICE_FDS ("BDF=FD,..."); no other descriptor of iommuctl reaches it, and iommuctl closes its own copies once it runs. --qemu or --cloud-hypervisor append the arguments that name them; --print-args prints those (one per line) and runs nothing.

--user runs it unprivileged through util-linux's setpriv: supplementary groups (--group; /dev/kvm needs kvm), then gid, then uid. RLIMIT_MEMLOCK is raised first to --memlock (see that flag for sizing).

iommuctl waits for the command and exits with its status (128+N when signal N ended it); SIGINT, SIGTERM and SIGHUP are passed on to it. iommuctl's own report goes to stderr (--json: one JSON record there when the command has exited); stdout is the command's.`

  static examples = [
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> --device 0000:00:03.0 --qemu --user qemu --group kvm --memlock 5G -- qemu-system-x86_64 -machine q35 -accel kvm -m 4G ...',
      description: 'QEMU, unprivileged, with the e1000e: 4 GiB of guest RAM pinned, plus a margin.',
    },
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> --device 0000:01:00.0 --cloud-hypervisor --check -- cloud-hypervisor --kernel vmlinux --memory size=1G ...',
      description: 'cloud-hypervisor, after proving the device binds and maps here.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --device 0000:00:03.0 --device 0000:00:03.1 --qemu --print-args',
      description: 'The arguments for a command line built elsewhere.',
    },
  ]

  static flags = {
    ...childFlags,
    check: Flags.boolean({summary: 'First prove the hand-off on descriptors of its own, then close them.'}),
    device: Flags.string({
      multiple: true,
      required: true,
      summary: 'A device on vfio-pci to hand over (repeat); its cdev goes at fd 4, 5, ... in this order.',
    }),
    'print-args': Flags.boolean({
      summary:
        'Print the arguments --qemu (default) or --cloud-hypervisor would append, one per line; run nothing.',
    }),
    'rlimit-mode': Flags.boolean({
      allowNo: true,
      default: true,
      summary: 'Set IOMMU_OPTION_RLIMIT_MODE to 1 (per-process accounting); --no-rlimit-mode leaves it.',
    }),
  }

  static strict = false

  static summary =
    'Run a VMM with a bare iommufd at fd 3 and the devices\u2019 unbound VFIO cdevs at 4, 5, ...'

  async run(): Promise<ExecRecord | ExecArgsRecord | undefined> {
    const command = this.argvAll
    const f = this.flags
    if (f['print-args'] && command.length)
      throw usage(`--print-args runs nothing: remove ${command.join(' ')}.`)
    if (!f['print-args'] && command.length === 0)
      throw usage(
        'exec needs a command after --.',
        'iommuctl exec --device BDF --qemu -- qemu-system-x86_64 ...',
      )
    const child = planChild(f)
    const devices = checkHandoffDevices(this.root, f.device, FIRST_HANDOFF_FD + 1)
    const vmm = f['cloud-hypervisor'] ? 'cloud-hypervisor' : f.qemu || f['print-args'] ? 'qemu' : null
    const appended = vmm ? vmmArgs(vmm, devices.length) : []
    if (f['print-args']) {
      if (!this.jsonEnabled()) process.stdout.write(appended.map((a) => a + '\n').join(''))
      return {devices, args: appended}
    }
    if (this.root.isSnapshot || this.root.dir !== '/')
      throw usage(
        `exec hands over descriptors of the running kernel; --root ${this.root.source} is not the live host.`,
      )

    const {OpenHandoff, proveHandoff} = await import('../handoff/open.js')
    const check = f.check ? proveHandoff(devices) : null
    const open = OpenHandoff.open(devices, f['rlimit-mode'])
    const human = !this.jsonEnabled()
    if (human) this.report(devices, open.rlimitMode.detail, open.rlimitMode.result, check !== null)
    const ran = await startChild(
      child,
      command,
      appended,
      devices,
      open.fds,
      () => open.close(),
      (pid, argv) => {
        if (!human) return
        if (child.user)
          process.stderr.write(
            `  as ${child.user.user.name} (uid ${child.user.user.uid}, gid ${child.user.user.gid}, groups ${child.user.user.groups.map((g) => g.name).join(',') || 'none'})\n`,
          )
        if (child.memlock !== undefined)
          process.stderr.write(`  RLIMIT_MEMLOCK ${humanBytes(memlockValue(child.memlock)!)}\n`)
        process.stderr.write(`  pid ${pid}: ${argv.join(' ')}\n`)
      },
    )
    const record: ExecRecord = {
      iommufd: {path: '/dev/iommu', fd: FIRST_HANDOFF_FD},
      rlimitMode: open.rlimitMode,
      devices,
      check,
      ...ran,
    }
    if (human)
      process.stderr.write(`iommuctl exec: ${command[0]} (pid ${ran.child.pid}) ${ended(ran.child)}\n`)
    else process.stderr.write(JSON.stringify(record, null, 2) + '\n')
    process.exitCode = ran.child.status
    return undefined
  }

  /** Under --json an error goes to stderr too: stdout is the command's. */
  override logJson(json: unknown): void {
    if (this.flags?.['print-args']) super.logJson(json)
    else process.stderr.write(JSON.stringify(json, null, 2) + '\n')
  }

  private report(devices: HandoffDevice[], rlimit: string, result: string, checked: boolean): void {
    const lines = [
      `iommuctl exec: ${checked ? 'checked, then ' : ''}handing over, unbound:`,
      `  fd ${FIRST_HANDOFF_FD}: /dev/iommu (IOMMU_OPTION_RLIMIT_MODE ${result}: ${rlimit})`,
      ...devices.map((d) => `  fd ${d.fd}: ${d.cdev} (${d.bdf}, ${d.driver}, group ${d.group})`),
    ]
    process.stderr.write(lines.join('\n') + '\n')
  }
}

function usage(message: string, suggestion?: string): IommuctlError {
  return new IommuctlError('USAGE', message, {exit: ExitCode.usage, suggestion})
}
