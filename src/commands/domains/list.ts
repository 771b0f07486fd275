import type {IommuctlError} from '../../errors.js'
import {DomainList, defaultDomains} from '../../model/domains.js'
import {liveDomains} from '../../model/live.js'
import {renderDomainList} from '../../render/domains.js'
import type {EngineState} from '../../session/engine.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsList extends SessionCommand<typeof DomainsList> {
  static description =
    "Always lists each IOMMU group's default domain from sysfs (the kernel's own, used by DMA API drivers), and what each device is attached to now: on VT-d, as root, from debugfs's context and PASID-table entries (domain id, translation type, address width, page-table root), on AMD-Vi from each device's DTE (devtbl, for the device written to devid; what was chosen there before is put back), with its owner (the kernel, or a user through VFIO/iommufd, and the processes holding it); without debugfs it says why. When the session is running, adds the IOASes and HWPTs it holds. Without a session it says so, and is not an error; a session that does not answer (see --timeout) is."

  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %>',
      description: "Default domains, and the session's objects if one runs.",
    },
    {
      command: 'sudo <%= config.bin %> <%= command.id %> --session vm0 --json',
      description: 'As JSON, from session vm0.',
    },
  ]

  static flags = {...SessionCommand.sessionFlags}

  static summary = "List domains: every group's default domain, and the session's IOASes and HWPTs."

  async run(): Promise<DomainList> {
    const list: DomainList = {
      defaultDomains: defaultDomains(this.root),
      live: liveDomains(this.root),
      session: null,
    }
    let why = ''
    try {
      list.session = {name: this.flags.session, state: (await this.request('status')) as EngineState}
    } catch (error) {
      // No session is an answer; one that is there and fails (times out, answers garbage) is not.
      if ((error as IommuctlError).code !== 'NO_SESSION') throw error
      why = (error as Error).message
    }
    if (!this.jsonEnabled()) this.log(renderDomainList(list, {name: this.flags.session, notRunning: why}))
    return list
  }
}
