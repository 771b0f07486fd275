import {Args, Flags} from '@oclif/core'
import {spawn} from 'node:child_process'

import {BaseCommand} from '../base-command.js'
import {ExitCode, IommuctlError} from '../errors.js'
import {sizeArgument} from '../model/units-of-measure.js'
import {renderState} from '../render/session.js'
import {ApplyRecord, applyPlan, validatePlan} from '../session/apply.js'
import {EngineState, memlockLimit} from '../session/engine.js'
import {readPlanText} from '../session/plan.js'

/** The descriptor numbers a child started by --exec finds: the iommufd first, then the devices in plan order. */
export const EXEC_IOMMUFD_FD = 3

export default class Apply extends BaseCommand<typeof Apply> {
  static args = {
    plan: Args.string({description: 'Plan file, JSON or YAML (- for stdin).', required: true}),
  }

  static description = `The plan names IOASes (with allowed IOVA ranges), memory maps (anonymous, memfd, hugetlbfs or a tmpfs/hugetlbfs file; a size; a fixed or kernel-chosen IOVA; readable and writable), HWPTs (plain, nest parent, dirty tracking, PASID-capable) and device attachments (a device, or one PASID of it, to an IOAS or HWPT), with names that later entries use. It is checked against schemas/plan.json before anything is opened; an error names the entry and field. Devices must be on vfio-pci (see \`devices bind\`).

It is applied in order: devices bound, IOASes, maps, HWPTs, attachments. If an entry fails, everything made so far is torn down and the error says which entry failed and why. The result lists the objects with the ids the kernel gave them.

Every iommufd object dies with the descriptor that made it. So by default they are torn down when apply returns: a dry run that proves the plan works on this host. --hold keeps them until SIGINT or SIGTERM. --exec runs a command with the iommufd at fd 3 and the devices' cdevs at fds 4, 5, ... in the order the plan first names them, also in the environment: IOMMUCTL_IOMMUFD_FD, IOMMUCTL_DEVICE_FDS ("BDF=FD,..."), IOMMUCTL_OBJECTS (JSON, name to id). When it exits, everything is torn down and apply exits with its status. With --exec, apply's own output goes to stderr.`

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
      command:
        'sudo <%= config.bin %> <%= command.id %> plan.yaml --exec -- qemu-system-x86_64 -object iommufd,id=iommufd0,fd=3 ...',
      description: 'Hand the iommufd to QEMU.',
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
    const {engine, steps} = applyPlan(this.root, plan, maxPinned)
    try {
      const record: ApplyRecord = {steps, state: engine.state(), mode}
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
      const status = await this.exec(command, record.state)
      engine.close()
      if (status !== 0) this.exit(status)
      return undefined
    } finally {
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
  private exec(command: string[], state: EngineState): Promise<number> {
    const devices = state.objects.filter((o) => o.kind === 'device')
    const fds = [state.iommufd, ...devices.map((d) => d.fd!)]
    const env = {
      ...process.env,
      IOMMUCTL_IOMMUFD_FD: String(EXEC_IOMMUFD_FD),
      IOMMUCTL_DEVICE_FDS: devices.map((d, i) => `${d.bdf}=${EXEC_IOMMUFD_FD + 1 + i}`).join(','),
      IOMMUCTL_OBJECTS: JSON.stringify(
        Object.fromEntries(state.objects.filter((o) => o.name).map((o) => [o.name, o.id])),
      ),
    }
    return new Promise((resolve, reject) => {
      const child = spawn(command[0]!, command.slice(1), {
        stdio: ['inherit', 'inherit', 'inherit', ...fds],
        env,
      })
      child.once('error', (error) =>
        reject(
          new IommuctlError('EXEC_FAILED', `Cannot run ${command[0]}: ${error.message}`, {
            suggestion: 'Check the command after --.',
          }),
        ),
      )
      // Signals reach the child (same process group); apply waits for it to end.
      const ignore = () => {}
      process.on('SIGINT', ignore)
      process.on('SIGTERM', ignore)
      child.once('exit', (code, signal) => {
        process.off('SIGINT', ignore)
        process.off('SIGTERM', ignore)
        resolve(code ?? 128 + (signal ? signalNumber(signal) : 0))
      })
    })
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15} as Record<string, number>)[signal] ?? 0
}
