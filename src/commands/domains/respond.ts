import {Args} from '@oclif/core'

import type {PageResponse} from '../../iommufd/events.js'
import {DoneResult} from '../../session/protocol.js'
import {SessionCommand} from '../../session-command.js'

export default class DomainsRespond extends SessionCommand<typeof DomainsRespond> {
  static args = {
    queue: Args.string({description: 'A fault queue of the session: id or name.', required: true}),
    cookie: Args.integer({
      description: 'The cookie of a page request read earlier (domains faults), naming its group.',
      max: 0xffffffff,
      min: 0,
      required: true,
    }),
    response: Args.string({
      description: 'success (the page is there now: the device retries) or invalid (the access fails).',
      options: ['success', 'invalid'],
      required: true,
    }),
  }

  static description = `Writes a struct iommu_hwpt_page_response to the fault queue: the answer to the group of page requests a read without --respond left waiting (the device waits for it, until the queue is destroyed, when the kernel answers invalid). A group is answered once; the kernel refuses a cookie no group waits on.`

  static examples = [
    {
      command: 'sudo <%= config.bin %> <%= command.id %> fq 7 success',
      description: 'Answer the group whose request had cookie 7: mapped now, retry.',
    },
  ]

  static flags = {...SessionCommand.sessionFlags}

  static opensRoot = false

  static summary = 'Answer a page request group read earlier from a fault queue.'

  async run(): Promise<DoneResult> {
    const {queue, cookie, response} = this.args
    const r = (await this.request('respond-fault', {
      queue,
      cookie,
      response: response as PageResponse,
    })) as DoneResult
    if (!this.jsonEnabled()) this.log(`answered cookie ${cookie} of ${queue}: ${response}`)
    return r
  }
}
