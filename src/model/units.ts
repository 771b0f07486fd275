import {
  AmdViControl,
  AmdViRegisters,
  AmdViStatus,
  decodeAmdViControl,
  decodeAmdViStatus,
  parseAmdDebugfsRegister,
  parseAmdViRegisters,
} from '../decode/amdvi.js'
import {decodeVirtioIommuFeatures, VirtioIommuFeatures, virtioIommuSummary} from '../decode/virtio-iommu.js'
import {
  decodeVtdFsts,
  decodeVtdGsts,
  parseVtdRegisters,
  VtdFsts,
  VtdGsts,
  VtdRegisters,
} from '../decode/vtd.js'
import {parseRegset} from '../decode/vtd-debugfs.js'
import {IommuctlError} from '../errors.js'
import {hex, Hex} from '../records.js'
import {
  AMD_DEBUGFS_DIR,
  ChosenFile,
  DebugfsState,
  INTEL_DEBUGFS_DIR,
  readChosen,
  readDebugfs,
} from '../sysfs/debugfs.js'
import {listUnits, UnitKind, UNITS_DIR} from '../sysfs/inventory.js'
import {Root} from '../sysfs/root.js'

export interface UnitRecord {
  name: string
  kind: UnitKind
  /** The unit's real sysfs directory. */
  sysfsPath: string
  /** The PCI function that is the IOMMU itself (AMD-Vi, virtio-iommu), if it is one. */
  pciDevice: string | null
  devices: string[]
  /** One line: what the unit can do. */
  summary: string
  vtd: VtdRegisters | null
  amdVi: AmdViRegisters | null
  virtio: VirtioIommuFeatures | null
  /** For kinds this tool cannot decode: every attribute the unit exposes, as text. */
  attributes: Record<string, string> | null
}

/** AMD-Vi units live at .../BDF/iommu/NAME, virtio-iommu at .../BDF/virtioN/iommu/NAME. */
const UNIT_UNDER_PCI = /\/([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\/(?:virtio\d+\/)?iommu\//

export function readUnits(root: Root): UnitRecord[] {
  return listUnits(root).map((u) => unitRecord(root, u.name, u.kind, u.devices))
}

export function readUnit(root: Root, name: string): UnitRecord | null {
  const u = listUnits(root).find((x) => x.name === name)
  return u ? unitRecord(root, u.name, u.kind, u.devices) : null
}

/**
 * A unit's registers as they are now, from debugfs (VT-d iommu_regset; AMD-Vi's iommuNN/mmio),
 * with the status bits decoded.
 */
export interface UnitLive {
  source: string
  state: DebugfsState
  /** Why they are not shown, or what in the dump was not understood. */
  note: string | null
  /** Every register read, by its name in the spec (VT-d GSTS, FSTS, CAP, ...; AMD-Vi Control, Status, ...). */
  registers: Record<string, Hex> | null
  /** VT-d: GSTS and FSTS decoded; null elsewhere. */
  gsts: VtdGsts | null
  fsts: VtdFsts | null
  /** AMD-Vi: the Control and Status registers decoded; null elsewhere. */
  control: AmdViControl | null
  status: AmdViStatus | null
}

/** `iommuctl units show --json`: the unit, and for VT-d its live registers (null for other kinds). */
export interface UnitDetail extends UnitRecord {
  live: UnitLive | null
}

export function readUnitDetail(root: Root, name: string): UnitDetail | null {
  const unit = readUnit(root, name)
  if (!unit) return null
  const live =
    unit.kind === 'intel-vtd' ? vtdLive(root, name) : unit.kind === 'amd-vi' ? amdLive(root, name) : null
  return {...unit, live}
}

/** The AMD-Vi MMIO registers units show reads, by offset (AMD IOMMU specification 48882, MMIO registers). */
const AMD_MMIO = {
  Control: 0x18,
  ExtendedFeatures: 0x30,
  CommandBufferHead: 0x2000,
  CommandBufferTail: 0x2008,
  EventLogHead: 0x2010,
  EventLogTail: 0x2018,
  Status: 0x2020,
} as const

/**
 * An AMD-Vi unit's registers through its debugfs mmio file, which prints the register at the
 * offset written to it: one choice every reader shares (readChosen). ivhdN's directory is
 * iommuNN (the unit's index, "iommu%02d").
 */
function amdLive(root: Root, name: string): UnitLive {
  const index = /^ivhd(\d{1,3})$/.exec(name)?.[1]
  const file = index === undefined ? null : `${AMD_DEBUGFS_DIR}/iommu${index.padStart(2, '0')}/mmio`
  const live: UnitLive = {
    source: file ?? AMD_DEBUGFS_DIR,
    state: 'absent',
    note: file ? null : `${name} is not named as the kernel names AMD-Vi units (ivhdN)`,
    registers: null,
    gsts: null,
    fsts: null,
    control: null,
    status: null,
  }
  if (!file) return live
  const state = readDebugfs(root, file)
  live.state = state.state
  live.note = state.note
  if (state.text === null) return live
  const mmio: ChosenFile<{offset: number; value: bigint}> = {
    choose: file,
    answer: file,
    current: (text) => {
      const r = parseAmdDebugfsRegister(text)
      return 'note' in r ? null : `0x${r.offset.toString(16)}`
    },
    parse: parseAmdDebugfsRegister,
    answers: (r, offset) => r.offset === Number(offset),
  }
  const registers: Record<string, Hex> = {}
  for (const [reg, offset] of Object.entries(AMD_MMIO)) {
    const {value, note} = readChosen(root, mmio, `0x${offset.toString(16)}`)
    if (!value) {
      live.note = `${reg} (0x${offset.toString(16)}): ${note}`
      break
    }
    registers[reg] = hex(value.value)
  }
  if (Object.keys(registers).length === 0) return live
  live.registers = registers
  if (registers.Control) live.control = decodeAmdViControl(BigInt(registers.Control))
  if (registers.Status) live.status = decodeAmdViStatus(BigInt(registers.Status))
  return live
}

function vtdLive(root: Root, name: string): UnitLive {
  const file = readDebugfs(root, `${INTEL_DEBUGFS_DIR}/iommu_regset`)
  const live: UnitLive = {
    source: file.path,
    state: file.state,
    note: file.note,
    registers: null,
    gsts: null,
    fsts: null,
    control: null,
    status: null,
  }
  if (file.text === null) return live
  const parsed = parseRegset(file.text)
  const mine = parsed.units.find((u) => u.unit === name)
  const notes = [...parsed.notes, ...(mine ? [] : [`no registers of ${name} in the dump`])]
  live.note = notes.join('; ') || null
  if (!mine) return live
  live.registers = mine.registers
  const reg = (r: string) => (mine.registers[r] === undefined ? null : BigInt(mine.registers[r]))
  const gsts = reg('GSTS')
  const fsts = reg('FSTS')
  live.gsts = gsts === null ? null : decodeVtdGsts(gsts)
  live.fsts = fsts === null ? null : decodeVtdFsts(fsts)
  return live
}

function unitRecord(root: Root, name: string, kind: UnitKind, devices: string[]): UnitRecord {
  const dir = root.resolveLink(`${UNITS_DIR}/${name}`) ?? `${UNITS_DIR}/${name}`
  const pciDevice = UNIT_UNDER_PCI.exec(dir)?.[1] ?? null
  const record: UnitRecord = {
    name,
    kind,
    sysfsPath: dir,
    pciDevice,
    devices,
    summary: '',
    vtd: null,
    amdVi: null,
    virtio: null,
    attributes: null,
  }
  const text = (f: string) => root.readText(`${dir}/${f}`)
  if (kind === 'intel-vtd') {
    record.vtd = parseVtdRegisters({
      version: text('intel-iommu/version'),
      address: text('intel-iommu/address'),
      cap: text('intel-iommu/cap'),
      ecap: text('intel-iommu/ecap'),
    })
    record.summary = record.vtd.summary
  } else if (kind === 'amd-vi') {
    record.amdVi = parseAmdViRegisters({cap: text('amd-iommu/cap'), features: text('amd-iommu/features')})
    record.summary = record.amdVi.summary
  } else if (kind === 'virtio-iommu') {
    // The unit sits at .../virtioN/iommu/NAME; its features are the virtio device's.
    record.virtio = decodeVirtioIommuFeatures(root.readText(`${dir}/../../features`))
    record.summary = record.virtio
      ? virtioIommuSummary(record.virtio)
      : 'virtio-iommu (features not captured)'
  } else {
    record.attributes = attributes(root, dir)
    record.summary = name.startsWith('iommufd_selftest_iommu')
      ? "the kernel's iommufd selftest mock (CONFIG_IOMMUFD_TEST), not hardware"
      : kind === 'arm-smmu-v3'
        ? // arm-smmu-v3.c registers the unit as "smmu3.%pa" with no attribute group: sysfs has
          // its address and devices only. IOMMU_GET_HW_INFO on a device behind it has the IDRs.
          `Arm SMMUv3 at ${name.slice('smmu3.'.length)}: sysfs has no registers of it; \`iommuctl hw-info BDF\` (root) decodes its ID registers`
        : `unknown kind: ${Object.keys(record.attributes).length} attributes`
  }
  return record
}

/** Every readable file one level deep, except the device links and power management. */
function attributes(root: Root, dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of root.list(dir)) {
    if (name === 'devices' || name === 'power' || name === 'subsystem' || name === 'device') continue
    const p = `${dir}/${name}`
    const type = root.entryType(p)
    const children = type === 'dir' ? root.list(p).map((c) => `${name}/${c}`) : [name]
    for (const rel of children) {
      if (root.entryType(`${dir}/${rel}`) !== 'file') continue
      try {
        const value = root.readText(`${dir}/${rel}`)
        if (value !== null) out[rel] = value
      } catch (error) {
        // Unreadable attributes are left out (the snapshot manifest lists them); refused ones are said.
        if (error instanceof IommuctlError) root.warn(error.message)
      }
    }
  }
  return out
}

/** `iommuctl units --json` */
export type UnitList = UnitRecord[]
