import {BaseCommand} from '../../base-command.js'
import {ExitCode, IommuctlError} from '../../errors.js'
import {FIRST_HANDOFF_FD, FORWARDED_SIGNALS} from '../../handoff/child.js'
import {childFlags} from '../../handoff/flags.js'
import {ended, planChild, startChild, vmmArgs} from '../../handoff/launch.js'
import {FdsReceiveRecord} from '../../handoff/records.js'
import {Flags} from '@oclif/core'

export default class FdsReceive extends BaseCommand<typeof FdsReceive> {
  static description = `Listens on the Unix stream socket PATH (created mode 0600, and only once it listens, so a sender can wait for the file; removed when the message came; an existing file is never replaced), takes one message from \`iommuctl fds send\` or anything that speaks its header (schemas/fds-header.json), checks that the header names exactly the descriptors that came and that each is what it says (/dev/iommu, then /dev/vfio/devices/vfioN), and starts CMD as \`exec\` does: the iommufd at fd 3, the devices at 4, 5, ... in the sender's order, IOMMUCTL_IOMMUFD_FD and IOMMUCTL_DEVICE_FDS set, its own copies closed once CMD runs. --qemu, --cloud-hypervisor, --user, --group and --memlock are exec's. It waits for CMD and exits with its status; its own report goes to stderr.

Run it as the VMM's user and nothing here needs root: the descriptors carry the access.`

  static examples = [
    {
      command:
        '<%= config.bin %> <%= command.id %> --socket /run/vm0/fds.sock --qemu -- qemu-system-x86_64 -machine q35 -m 4G ...',
      description: 'Wait for the devices, then start QEMU with them (here, as the user who runs this).',
    },
  ]

  static flags = {
    ...childFlags,
    socket: Flags.string({required: true, summary: 'Where to listen: a new Unix socket path.'}),
  }

  static strict = false

  static summary =
    'Receive an iommufd and device cdevs on a Unix socket, then run a command with them at fd 3, 4, ...'

  async run(): Promise<undefined> {
    const command = this.argvAll
    const f = this.flags
    if (command.length === 0)
      throw new IommuctlError('USAGE', 'fds receive needs a command after --.', {
        exit: ExitCode.usage,
        suggestion: 'iommuctl fds receive --socket PATH --qemu -- qemu-system-x86_64 ...',
      })
    const child = planChild(f)
    const {closeFd, receiveDescriptors, socketPath} = await import('../../handoff/fds.js')
    const socket = socketPath(f.socket)
    const human = !this.jsonEnabled()
    let signalled = false
    const stop = () => {
      signalled = true
    }
    for (const s of FORWARDED_SIGNALS) process.on(s, stop)
    let got
    try {
      if (human) process.stderr.write(`iommuctl fds receive: listening on ${socket}\n`)
      got = await receiveDescriptors(socket, () => signalled)
    } finally {
      for (const s of FORWARDED_SIGNALS) process.off(s, stop)
    }
    const received = got.fds
    const devices = got.header.fds.slice(1).map((e, i) => ({
      bdf: e.kind === 'device' ? e.bdf : '',
      fd: FIRST_HANDOFF_FD + 1 + i,
    }))
    const vmm = f['cloud-hypervisor'] ? 'cloud-hypervisor' : f.qemu ? 'qemu' : null
    const appended = vmm ? vmmArgs(vmm, devices.length) : []
    let released = false
    const release = () => {
      if (released) return
      released = true
      for (const fd of received) closeFd(fd)
    }
    if (human)
      process.stderr.write(
        `received from pid ${got.peer.pid} (uid ${got.peer.uid}): /dev/iommu at fd ${FIRST_HANDOFF_FD}${devices.map((d) => `, ${d.bdf} at fd ${d.fd}`).join('')}\n`,
      )
    const ran = await startChild(child, command, appended, devices, received, release, (pid, argv) => {
      if (human) process.stderr.write(`  pid ${pid}: ${argv.join(' ')}\n`)
    })
    const record: FdsReceiveRecord = {socket, peer: got.peer, header: got.header, ...ran}
    if (human)
      process.stderr.write(`iommuctl fds receive: ${command[0]} (pid ${ran.child.pid}) ${ended(ran.child)}\n`)
    else process.stderr.write(JSON.stringify(record, null, 2) + '\n')
    process.exitCode = ran.child.status
    return undefined
  }

  /** Under --json an error goes to stderr too: stdout is the command's. */
  override logJson(json: unknown): void {
    process.stderr.write(JSON.stringify(json, null, 2) + '\n')
  }
}
