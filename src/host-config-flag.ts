import {Flags} from '@oclif/core'

import {DEFAULT_HOST_CONFIG, LoadedConfig, readHostConfig} from './configure/host-config.js'
import {Root} from './sysfs/root.js'

/** --config, shared by the host commands. */
export const configFlag = Flags.string({
  env: 'IOMMUCTL_CONFIG',
  helpValue: 'FILE',
  summary: `The desired state, YAML or JSON (default: ${DEFAULT_HOST_CONFIG} under --root).`,
})

/** The config --config names, or the root's own /etc/iommuctl/host.yaml. */
export function loadConfig(root: Root, file: string | undefined): Promise<LoadedConfig> {
  return readHostConfig(file ?? root.abs(DEFAULT_HOST_CONFIG))
}
