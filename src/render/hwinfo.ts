import type {HwInfoRecord} from '../model/hwinfo.js'
import {bold, fields, table} from './style.js'

/** `hw-info`: the IOMMU type and capabilities iommufd reports for a device, its registers, its IOVA ranges. */
export function renderHwInfo(r: HwInfoRecord): string {
  const c = r.capabilities
  const yesNo = (b: boolean) => (b ? 'yes' : 'no')
  const out = [
    fields([
      ['device', `${r.bdf} (${r.cdev})`],
      ['iommu type', `${r.type} (${r.typeId})`],
      [
        'capabilities',
        `${c.raw}: dirty tracking ${yesNo(c.dirtyTracking)}, PASID exec ${yesNo(c.pasidExecute)}, PASID priv ${yesNo(c.pasidPrivileged)}, ATS ${c.atsNotSupported ? 'not supported' : 'usable'}`,
      ],
      ['pasid width', r.maxPasidLog2 ? `${r.maxPasidLog2} bits` : 'no PASID'],
    ]),
  ]
  if (r.vtd)
    out.push(
      fields([
        ['vt-d', r.vtd.summary],
        ['cap', r.vtd.cap],
        ['ecap', r.vtd.ecap],
        ['flags', r.vtd.flags],
      ]),
    )
  if (r.smmuv3)
    out.push(
      fields([
        ['smmuv3', r.smmuv3.summary],
        ['idr', r.smmuv3.idr.join(' ')],
        ['iidr', r.smmuv3.iidr],
        ['aidr', r.smmuv3.aidr],
      ]),
    )
  if (r.amd)
    out.push(
      fields([
        ['efr', r.amd.efr],
        ['efr2', r.amd.efr2],
      ]),
    )
  out.push(
    `\n${bold('IOVA ranges of an IOAS attached to it')}`,
    table(
      ['START', 'LAST'],
      r.iovaRanges.map((x) => [x.start, x.last]),
    ),
  )
  return out.join('\n')
}
