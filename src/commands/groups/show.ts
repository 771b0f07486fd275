import {Args} from '@oclif/core'

import {BaseCommand} from '../../base-command.js'
import {IommuctlError} from '../../errors.js'
import {GroupDetail, groupDetail} from '../../model/direct.js'
import {readGroup} from '../../model/groups.js'
import {PciTopology} from '../../model/topology.js'
import {renderGroup} from '../../render/groups.js'
import {listGroups} from '../../sysfs/inventory.js'

export default class GroupsShow extends BaseCommand<typeof GroupsShow> {
  static args = {
    id: Args.integer({description: 'Group number, as in /sys/kernel/iommu_groups.', min: 0, required: true}),
  }

  static description = `The group's default domain type and IOMMU unit; the processes holding its node (/dev/vfio/ID), a device cdev or a device's sysfs files open (pid and command, live host only: unknown under --root); its devices with driver and name; its reserved regions (start, end, type as the kernel reports them) and the firmware's RMRRs and IVMDs that name its devices, with what follows: a \`direct\` region means the kernel requires a 1:1 mapping and will not give the group to VFIO; whether VFIO can use it and, if not, which devices are in the way; and when it holds several devices, why: the conventional PCI bridge, the port without ACS isolation, or the multifunction device without ACS that merges them, found by retracing the kernel's pci_device_group().`

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> 7', description: 'Why are these devices in one group?'},
    {
      command:
        'sudo <%= config.bin %> <%= command.id %> 7 --json | jq -r \'.heldBy.holders[] | "\\(.pid) \\(.command)"\'',
      description: 'Who holds the group (a VMM, a userspace driver)?',
    },
    {
      command: "<%= config.bin %> <%= command.id %> 7 --json | jq '.reservedRegions'",
      description: 'The IOVA ranges a VMM must avoid.',
    },
  ]

  static summary = 'Show one IOMMU group: devices, reserved regions, VFIO viability and why devices share it.'

  async run(): Promise<GroupDetail> {
    const topology = new PciTopology(this.root)
    const record = readGroup(this.root, this.args.id, topology)
    if (!record) {
      const ids = listGroups(this.root).map((g) => g.id)
      throw new IommuctlError('NO_SUCH_GROUP', `No IOMMU group ${this.args.id}.`, {
        path: `/sys/kernel/iommu_groups/${this.args.id}`,
        suggestion: ids.length ? `Groups on this host: ${rangeList(ids)}.` : 'This host has no IOMMU groups.',
      })
    }
    const group = groupDetail(this.root, topology, record)
    if (!this.jsonEnabled()) this.log(renderGroup(group))
    return group
  }
}

/** 0 1 2 3 7 8 -> "0-3, 7-8" */
function rangeList(ids: number[]): string {
  const out: string[] = []
  for (let i = 0; i < ids.length;) {
    let j = i
    while (j + 1 < ids.length && ids[j + 1] === ids[j]! + 1) j++
    out.push(i === j ? `${ids[i]}` : `${ids[i]}-${ids[j]}`)
    i = j + 1
  }
  return out.join(', ')
}
