import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode, IommuctlError} from '../errors.js'
import {FIRST_HANDOFF_FD, runChild} from '../handoff/child.js'
import {checkHandoffDevices, HandoffDevice} from '../handoff/devices.js'
import {openCdevs} from '../handoff/open.js'
import {sizeArgument} from '../model/units-of-measure.js'
import {renderState} from '../render/session.js'
import {ApplyRecord, applyPlan, planDevices, validatePlan} from '../session/apply.js'
import {EngineState, memlockLimit} from '../session/engine.js'
import {hostKernel} from '../session/kernel.js'
import {readPlanText} from '../session/plan.js'

export default class Apply extends BaseCommand<typeof Apply> {
  static args = {
    plan: Args.string({description: 'Plan file, JSON or YAML (- for stdin).', required: true}),
  }

  static description = `The plan names IOASes (with allowed IOVA ranges), memory maps (anonymous, memfd, hugetlbfs or a tmpfs/hugetlbfs file; a size; a fixed or kernel-chosen IOVA; readable and writable), HWPTs (plain, nest parent, dirty tracking, PASID-capable) and device attachments (a device, or one PASID of it, to an IOAS or HWPT), with names that later entries use. It is checked against schemas/plan.json before anything is opened; an error names the entry and field. Devices must be on vfio-pci (see \`devices bind\`).

It is applied in order: devices bound, IOASes, maps, fault queues, HWPTs, vIOMMUs, vDEVICEs, vEVENTQs, the HWPTs on vIOMMUs, attachments. If an entry fails, everything made so far is torn down and the error says which entry failed and why. The result lists the objects with the ids the kernel gave them.

Every iommufd object dies with the descriptor that made it. So by default they are torn down when apply returns: a dry run that proves the plan works on this host. --hold keeps them until SIGINT or SIGTERM. --exec runs a command with the iommufd at fd 3 and the devices' cdevs at fds 4, 5, ... in the order the plan first names them, also in the environment: IOMMUCTL_IOMMUFD_FD, IOMMUCTL_DEVICE_FDS ("BDF=FD,..."), IOMMUCTL_OBJECTS (JSON, name to id). When it exits, everything is torn down and apply exits with its status (128+N for signal N; SIGINT, SIGTERM and SIGHUP are passed on to it). With --exec, apply's own output goes to stderr.

What such a child can do with the bound descriptors: use the objects by their ids (map and unmap in the IOASes, allocate more IOASes and HWPTs, attach a device to another one, PASIDs), and use each device through its cdev (regions, interrupts, reset). What it cannot: bind a device again (the kernel refuses a second bind with EINVAL), which is what QEMU's vfio-pci and cloud-hypervisor always do, nor set IOMMU_OPTION_RLIMIT_MODE (the iommufd already holds objects). So a VMM is not such a child: give it the devices with \`iommuctl exec\`, or list them under the plan's \`handoff:\` to have them opened and passed unbound after the bound ones (IOMMUCTL_HANDOFF_FDS).`

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> plan.yaml',
      description: 'Does this plan work here? Build it, print the ids, tear it down.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> plan.yaml --hold',
      description: 'Keep the objects until Ctrl-C.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> plan.yaml --exec -- ./my-dpdk-app',
      description:
        'Hand the objects to a program written for them (a VMM binds devices itself: use `iommuctl exec`).',
    },
  ]

  static flags = {
    exec: Flags.boolean({
      summary: 'Run the command after -- with the descriptors; tear down when it exits.',
      exclusive: ['hold'],
    }),
    hold: Flags.boolean({summary: 'Keep the objects until SIGINT or SIGTERM.'}),
    'max-pinned': Flags.string({
      summary: 'Refuse maps past this many bytes (or with K, M, G, T: 8G, 512MiB); default RLIMIT_MEMLOCK.',
    }),
  }

  static strict = false

  static summary =
    'Build the IOASes, maps, HWPTs and attachments a plan describes; hold them, or hand them to a command.'

  async run(): Promise<ApplyRecord | undefined> {
    const [file, ...command] = this.argvAll
    const mode = this.flags.exec ? 'exec' : this.flags.hold ? 'hold' : 'exit'
    if (mode === 'exec' && command.length === 0) {
      throw new IommuctlError('USAGE', '--exec needs a command after --.', {
        exit: ExitCode.usage,
        suggestion: 'iommuctl apply plan.yaml --exec -- CMD ARGS...',
      })
    }
    if (mode !== 'exec' && command.length) {
      throw new IommuctlError('USAGE', `Unexpected arguments: ${command.join(' ')}.`, {exit: ExitCode.usage})
    }
    const plan = await validatePlan(await readPlanText(file!))
    const maxPinned =
      this.flags['max-pinned'] !== undefined
        ? sizeArgument('--max-pinned', this.flags['max-pinned'])
        : memlockLimit()
    // Handoff devices are checked before anything is opened, and numbered after the bound ones.
    const handoff = plan.handoff?.length
      ? checkHandoffDevices(this.root, plan.handoff, FIRST_HANDOFF_FD + 1 + planDevices(plan).length)
      : []
    const {engine, steps} = applyPlan(hostKernel(this.root), plan, maxPinned)
    let cdevs: {fd: number; close(): void}[] = []
    try {
      cdevs = openCdevs(handoff)
      const record: ApplyRecord = {steps, state: engine.state(), mode, ...(handoff.length ? {handoff} : {})}
      if (mode === 'exit') {
        this.print(record, false)
        return record
      }
      this.print(record, mode === 'exec')
      if (mode === 'hold') {
        // A pending promise does not keep Node running; a timer does, until a signal ends the hold.
        await new Promise<void>((resolve) => {
          const keep = setInterval(() => {}, 1 << 30)
          const done = () => {
            clearInterval(keep)
            resolve()
          }
          process.once('SIGINT', done)
          process.once('SIGTERM', done)
        })
        return undefined
      }
      const status = await this.exec(
        command,
        record.state,
        handoff,
        cdevs.map((c) => c.fd),
      )
      engine.close()
      if (status !== 0) this.exit(status)
      return undefined
    } finally {
      for (const c of cdevs) c.close()
      engine.close()
    }
  }

  private print(record: ApplyRecord, toStderr: boolean): void {
    const write = (s: string) => (toStderr ? process.stderr : process.stdout).write(s + '\n')
    if (this.jsonEnabled()) {
      if (record.mode !== 'exit' || toStderr) write(JSON.stringify(record, null, 2))
      return
    }
    write(renderState(record.state))
    if (record.mode === 'hold')
      write(
        `holding ${record.state.objects.length} objects in fd ${record.state.iommufd} (pid ${process.pid}); SIGINT or SIGTERM tears them down`,
      )
    if (record.mode === 'exit') write('the plan works here; torn down (--hold or --exec keep the objects)')
  }

  /** Starts the command with the descriptors at fixed numbers, waits, and returns its exit status. */
  private async exec(
    command: string[],
    state: EngineState,
    handoff: HandoffDevice[],
    handoffFds: number[],
  ): Promise<number> {
    const devices = state.objects.filter((o) => o.kind === 'device')
    const env = {
      ...process.env,
      IOMMUCTL_IOMMUFD_FD: String(FIRST_HANDOFF_FD),
      IOMMUCTL_DEVICE_FDS: devices.map((d, i) => `${d.bdf}=${FIRST_HANDOFF_FD + 1 + i}`).join(','),
      IOMMUCTL_OBJECTS: JSON.stringify(
        Object.fromEntries(state.objects.filter((o) => o.name).map((o) => [o.name, o.id])),
      ),
      ...(handoff.length ? {IOMMUCTL_HANDOFF_FDS: handoff.map((d) => `${d.bdf}=${d.fd}`).join(',')} : {}),
    }
    const fds = [state.iommufd, ...devices.map((d) => d.fd!), ...handoffFds]
    return (await runChild(command, {fds, env})).status
  }
}
