import {Args, Flags} from '@oclif/core'

import {ExitCode, IommuctlError} from '../../errors.js'
import {DEFAULT_VEVENTQ_DEPTH, userDataArgument} from '../../session/nesting.js'
import {HwptDataType, HwptFlag, VeventqType, ViommuType} from '../../session/plan.js'
import {IdResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

const usage = (message: string) => new IommuctlError('USAGE', message, {exit: ExitCode.usage})

export default class DomainsCreate extends SessionCommand<typeof DomainsCreate> {
  static args = {
    kind: Args.string({
      description: 'ioas, hwpt, viommu, vdevice, fault-queue or veventq.',
      options: ['ioas', 'hwpt', 'viommu', 'vdevice', 'fault-queue', 'veventq'],
      required: true,
    }),
  }

  static description = `An IOAS (IOMMU_IOAS_ALLOC, optionally limited to --allow-iova ranges); an HWPT (IOMMU_HWPT_ALLOC) on an IOAS for a device's IOMMU, with --nest-parent, --dirty-tracking or --pasid, or a nested HWPT on a nest-parent HWPT or vIOMMU (--parent) from the driver struct given as --data (a file, or its bytes in hex, in memory order) of --data-type; a vIOMMU (IOMMU_VIOMMU_ALLOC) of --type on a nest-parent --hwpt; a vDEVICE (IOMMU_VDEVICE_ALLOC): a device as a guest sees it behind a --viommu, at --virt-id; a fault queue (IOMMU_FAULT_QUEUE_ALLOC), which an HWPT made with --fault-queue sends its page requests to (read them with domains faults); a vEVENTQ (IOMMU_VEVENTQ_ALLOC) of --type on a --viommu, at most --depth events (read them with domains events). Prints the id the kernel gave it.`

  static examples = [
    {command: 'sudo <%= config.bin %> <%= command.id %> ioas --name main', description: 'A new IOAS.'},
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> hwpt --ioas main --device 0000:00:03.0 --dirty-tracking',
      description: 'A page table with dirty tracking for the e1000e.',
    },
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> hwpt --ioas main --device 0000:00:03.0 --nest-parent --name s2',
      description: 'A stage-2 page table that nested ones can be made on.',
    },
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> hwpt --parent s2 --device 0000:00:03.0 --data-type vtd-s1 --data s1.bin --name s1',
      description:
        "A nested VT-d stage-1 HWPT on it: s1.bin holds a struct iommu_hwpt_vtd_s1 (the guest's page table address and width).",
    },
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> viommu --hwpt s2 --device 0000:00:03.0 --type arm-smmuv3 --name vi',
      description: 'A vIOMMU on the nest-parent HWPT.',
    },
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> vdevice --viommu vi --device 0000:00:03.0 --virt-id 0x8',
      description: 'The device behind the vIOMMU, with the stream id the guest gives it.',
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> fault-queue --name fq',
      description: 'A fault queue, then an HWPT whose page requests go to it (hwpt ... --fault-queue fq).',
    },
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> veventq --viommu vi --type arm-smmuv3 --depth 128 --name evq',
      description: "The vIOMMU's queue of SMMUv3 events.",
    },
  ]

  static flags = {
    ...SessionCommand.sessionFlags,
    name: Flags.string({summary: 'A name later commands can use instead of the id.'}),
    'allow-iova': Flags.string({
      multiple: true,
      summary: 'For an IOAS: START-LAST ("0x0-0xffffffff"), repeatable.',
    }),
    'no-huge-pages': Flags.boolean({
      summary: 'For an IOAS: keep its page tables to 4 KiB pages (IOMMU_OPTION_HUGE_PAGES 0).',
    }),
    ioas: Flags.string({summary: 'For a paging HWPT: the IOAS it translates.'}),
    parent: Flags.string({summary: 'For a nested HWPT: the nest-parent HWPT or the vIOMMU it is made on.'}),
    device: Flags.string({
      summary: 'For an HWPT, vIOMMU or vDEVICE: the device (on vfio-pci) whose IOMMU allocates it.',
    }),
    'data-type': Flags.string({
      options: ['selftest', 'vtd-s1', 'arm-smmuv3'],
      summary: "For a nested HWPT: what --data describes (the selftest type is the iommufd selftest mock's).",
    }),
    data: Flags.string({
      summary: 'For a nested HWPT: the driver struct, as a file or as hex digits (two a byte, memory order).',
      helpValue: 'FILE|HEX',
    }),
    hwpt: Flags.string({summary: 'For a vIOMMU: the nest-parent HWPT it is on.'}),
    type: Flags.string({
      options: ['arm-smmuv3', 'tegra241-cmdqv', 'selftest'],
      summary: "For a vIOMMU or vEVENTQ: its type (the selftest type is the iommufd selftest mock's).",
    }),
    viommu: Flags.string({summary: 'For a vDEVICE or vEVENTQ: the vIOMMU it is on.'}),
    'fault-queue': Flags.string({summary: "For an HWPT: the session's fault queue its page requests go to."}),
    depth: Flags.integer({
      min: 1,
      max: 524288,
      summary: `For a vEVENTQ: the most events it holds before it loses some (default ${DEFAULT_VEVENTQ_DEPTH}).`,
    }),
    'virt-id': Flags.string({
      summary: 'For a vDEVICE: its id in the guest (vSID, vRID), in hex.',
      helpValue: '0x...',
    }),
    'nest-parent': Flags.boolean({summary: 'HWPT usable as a nesting parent.'}),
    'dirty-tracking': Flags.boolean({summary: 'HWPT with dirty tracking.'}),
    pasid: Flags.boolean({summary: 'HWPT attachable to PASIDs.'}),
  }

  static opensRoot = false

  static summary = 'Create an IOAS, HWPT, vIOMMU, vDEVICE, fault queue or vEVENTQ in a session.'

  async run(): Promise<IdResult> {
    const result = (await this.create()) as IdResult
    if (!this.jsonEnabled()) this.log(`${this.args.kind} ${result.id}`)
    return result
  }

  private create() {
    const f = this.flags
    switch (this.args.kind) {
      case 'ioas': {
        const allowIovas = f['allow-iova']?.map((r) => {
          const m = /^(0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)$/.exec(r)
          if (!m) throw usage(`--allow-iova ${r}: give START-LAST in hex, e.g. 0x0-0xffffffff.`)
          return {start: m[1]!, last: m[2]!}
        })
        const hugePages = f['no-huge-pages'] ? false : undefined
        return this.request('create-ioas', {name: f.name, allowIovas, hugePages})
      }
      case 'hwpt': {
        if (!f.device || (f.ioas === undefined) === (f.parent === undefined))
          throw usage('An HWPT needs --device, and --ioas (a paging HWPT) or --parent (a nested one).')
        if ((f.parent !== undefined) !== (f['data-type'] !== undefined && f.data !== undefined))
          throw usage('A nested HWPT (--parent) needs --data-type and --data; a paging one takes neither.')
        const flags = (['nest-parent', 'dirty-tracking', 'pasid'] as HwptFlag[]).filter((x) => f[x])
        return this.request('create-hwpt', {
          ioas: f.ioas,
          parent: f.parent,
          device: f.device,
          name: f.name,
          flags,
          dataType: f['data-type'] as HwptDataType | undefined,
          data: f.data === undefined ? undefined : userDataArgument('--data', f.data),
          faultQueue: f['fault-queue'],
        })
      }
      case 'fault-queue':
        return this.request('create-fault-queue', {name: f.name})
      case 'veventq':
        if (!f.viommu || !f.type) throw usage('A vEVENTQ needs --viommu and --type.')
        return this.request('create-veventq', {
          viommu: f.viommu,
          type: f.type as VeventqType,
          depth: f.depth,
          name: f.name,
        })
      case 'viommu':
        if (!f.hwpt || !f.device || !f.type) throw usage('A vIOMMU needs --hwpt, --device and --type.')
        return this.request('create-viommu', {
          hwpt: f.hwpt,
          device: f.device,
          type: f.type as ViommuType,
          name: f.name,
        })
      default:
        if (!f.viommu || !f.device || !f['virt-id'])
          throw usage('A vDEVICE needs --viommu, --device and --virt-id.')
        if (!/^0x[0-9a-fA-F]{1,16}$/.test(f['virt-id']))
          throw usage(`--virt-id ${f['virt-id']}: give it in hex, 0x...`)
        return this.request('create-vdevice', {
          viommu: f.viommu,
          device: f.device,
          virtId: f['virt-id'],
          name: f.name,
        })
    }
  }
}
