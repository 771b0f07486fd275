import {Flags} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {FIRST_HANDOFF_FD} from '../../handoff/child.js'
import {checkHandoffDevices} from '../../handoff/devices.js'
import {FdsSendRecord} from '../../handoff/records.js'
import {ExitCode, IommuctlError} from '../../errors.js'

export default class FdsSend extends BaseCommand<typeof FdsSend> {
  static description = `Checks the devices as \`exec\` does, connects to the Unix stream socket PATH on which a receiver listens (nobody listening: an error, nothing opened), opens what \`exec\` would hand a VMM (/dev/iommu with IOMMU_OPTION_RLIMIT_MODE set to 1, each device's VFIO cdev, nothing bound) and sends every descriptor in one message with SCM_RIGHTS, the iommufd first, then the devices in --device order. The message's data is a JSON header naming each descriptor in the same order (schemas/fds-header.json):

  {"protocol": "iommuctl-fds", "version": 1, "fds": [{"kind": "iommufd", "path": "/dev/iommu", "rlimitMode": 1}, {"kind": "device", "bdf": "0000:00:03.0", "cdev": "/dev/vfio/devices/vfio0", "group": 5}]}

Then it closes its own copies: the receiver holds the devices. This is how an unprivileged VMM gets them without ever running as root, the way kubevirt's device plugin does. \`iommuctl fds receive\` is such a receiver; in Python, socket.recv_fds(sock, 65536, 64) reads it.`

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> --socket /run/vm0/fds.sock --device 0000:00:03.0',
      description: 'Give the e1000e to whatever listens on the socket.',
    },
  ]

  static flags = {
    check: Flags.boolean({summary: 'First prove the hand-off on descriptors of its own, then close them.'}),
    device: Flags.string({multiple: true, required: true, summary: 'A device on vfio-pci to send (repeat).'}),
    'rlimit-mode': Flags.boolean({
      allowNo: true,
      default: true,
      summary: 'Set IOMMU_OPTION_RLIMIT_MODE to 1 (per-process accounting); --no-rlimit-mode leaves it.',
    }),
    socket: Flags.string({required: true, summary: 'The listening Unix socket to connect to.'}),
  }

  static summary = 'Send a bare iommufd and unbound device cdevs to a listening Unix socket (SCM_RIGHTS).'

  async run(): Promise<FdsSendRecord> {
    const f = this.flags
    const devices = checkHandoffDevices(this.root, f.device, FIRST_HANDOFF_FD + 1)
    if (this.root.isSnapshot || this.root.dir !== '/')
      throw new IommuctlError(
        'USAGE',
        `fds send needs the running kernel; --root ${this.root.source} is not the live host.`,
        {
          exit: ExitCode.usage,
        },
      )
    const {OpenHandoff, proveHandoff} = await import('../../handoff/open.js')
    const {closeFd, connectTo, header, sendDescriptors, socketPath} = await import('../../handoff/fds.js')
    const socket = socketPath(f.socket)
    const conn = connectTo(socket)
    let open
    try {
      const check = f.check ? proveHandoff(devices) : null
      open = OpenHandoff.open(devices, f['rlimit-mode'])
      const h = header(devices, open.rlimitMode.value ?? 0)
      const bytes = sendDescriptors(conn, open.fds, h)
      const record: FdsSendRecord = {socket, header: h, bytes, rlimitMode: open.rlimitMode, devices, check}
      if (!this.jsonEnabled())
        this.log(
          `sent ${open.fds.length} descriptors to ${socket}: /dev/iommu (IOMMU_OPTION_RLIMIT_MODE ${open.rlimitMode.result}), ${devices.map((d) => `${d.bdf} (${d.cdev})`).join(', ')}; this process's copies closed`,
        )
      return record
    } finally {
      open?.close()
      closeFd(conn)
    }
  }
}
