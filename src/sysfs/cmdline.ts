/** The kernel command line's IOMMU-related intent, parsed as the kernel's early params read it. */
export interface IommuCmdline {
  /** The raw parameters that bear on the IOMMU, in order, e.g. ["intel_iommu=on", "iommu=pt"]. */
  params: string[]
  /** Whether the command line asks for the IOMMU off (intel_iommu=off, amd_iommu=off, iommu=off). */
  disabled: boolean
  /** Whether it asks for the IOMMU on (intel_iommu=on, amd_iommu=force_isolation). */
  enabled: boolean
  /** iommu=pt / iommu.passthrough=1 ask for identity default domains; iommu=nopt / iommu.passthrough=0 for translation. */
  passthrough: boolean | null
  /** iommu.strict=1 (or intel_iommu=strict) asks for strict invalidation, iommu.strict=0 for lazy. */
  strict: boolean | null
  /** intel_iommu=no_platform_optin: ignore the firmware's DMA_CTRL_PLATFORM_OPT_IN (pre-boot DMA protection). */
  noPlatformOptIn: boolean
}

const RELEVANT = /^(intel_iommu|amd_iommu|iommu|iommu\.passthrough|iommu\.strict|intremap|amd_iommu_intr)=/

export function parseIommuCmdline(cmdline: string | null): IommuCmdline {
  const params = (cmdline ?? '').split(/\s+/).filter((p) => RELEVANT.test(p))
  const out: IommuCmdline = {
    params,
    disabled: false,
    enabled: false,
    passthrough: null,
    strict: null,
    noPlatformOptIn: false,
  }
  for (const p of params) {
    const [key, value = ''] = p.split('=', 2) as [string, string]
    const options = value.split(',')
    if (key === 'intel_iommu' || key === 'amd_iommu') {
      if (options.includes('off')) out.disabled = true
      if (options.includes('on') || options.includes('force_isolation') || options.includes('force_enable'))
        out.enabled = true
      if (options.includes('strict')) out.strict = true
      if (key === 'intel_iommu' && options.includes('no_platform_optin')) out.noPlatformOptIn = true
    } else if (key === 'iommu') {
      if (options.includes('off')) out.disabled = true
      if (options.includes('pt')) out.passthrough = true
      if (options.includes('nopt')) out.passthrough = false
      if (options.includes('force')) out.enabled = true
    } else if (key === 'iommu.passthrough') {
      out.passthrough = isTrue(value)
    } else if (key === 'iommu.strict') {
      out.strict = isTrue(value)
    }
  }
  return out
}

/** The kernel's kstrtobool: 1/y/Y/on true, 0/n/N/off false. */
function isTrue(value: string): boolean {
  return /^(1|y|on)/i.test(value)
}
