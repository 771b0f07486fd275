#!/usr/bin/env node
// Generates schemas/NAME.json, the JSON Schema of each command's --json output, from the
// TypeScript type the command returns. The files are committed: `npm test` fails when they
// are stale (scripts/check-generated.js), so a change of shape is always a reviewed change,
// and the tests validate real output against them (test/helpers/schema.ts).
import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'
import {createGenerator} from 'ts-json-schema-generator'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** schema name -> [source file, exported type]: one per command output, plus the error shape, the journal, and the snapshot manifest (both checked when read). */
export const SCHEMAS = {
  error: ['src/base-command.ts', 'ErrorJson'],
  snapshot: ['src/snapshot/snapshot.ts', 'SnapshotResult'],
  manifest: ['src/sysfs/root.ts', 'SnapshotManifest'],
  status: ['src/model/status.ts', 'StatusRecord'],
  audit: ['src/model/audit.ts', 'AuditRecord'],
  units: ['src/model/units.ts', 'UnitList'],
  firmware: ['src/model/firmware.ts', 'FirmwareRecord'],
  unit: ['src/model/units.ts', 'UnitDetail'],
  groups: ['src/model/groups.ts', 'GroupList'],
  group: ['src/model/direct.ts', 'GroupDetail'],
  devices: ['src/model/devices.ts', 'DeviceList'],
  device: ['src/model/direct.ts', 'DeviceShown'],
  mdevs: ['src/model/mdevs.ts', 'MdevList'],
  'hw-info': ['src/model/hwinfo.ts', 'HwInfoRecord'],
  probe: ['src/model/probe.ts', 'ProbeRecord'],
  change: ['src/configure/changes.ts', 'ChangeReport'],
  journal: ['src/configure/journal.ts', 'JournalData'],
  plan: ['src/session/plan.ts', 'Plan'],
  apply: ['src/session/apply.ts', 'ApplyRecord'],
  'session-request': ['src/session/protocol.ts', 'SessionRequest'],
  'session-response': ['src/session/protocol.ts', 'SessionResponse'],
  'session-state': ['src/session/engine.ts', 'EngineState'],
  'session-object': ['src/session/engine.ts', 'SessionObject'],
  'session-start': ['src/session/protocol.ts', 'SessionStarted'],
  'session-stop': ['src/session/protocol.ts', 'SessionStopped'],
  domains: ['src/model/domains.ts', 'DomainList'],
  'domains-translate': ['src/model/live.ts', 'TranslateRecord'],
  mapping: ['src/session/engine.ts', 'MappingRecord'],
  'object-id': ['src/session/protocol.ts', 'IdResult'],
  done: ['src/session/protocol.ts', 'DoneResult'],
  invalidate: ['src/session/engine.ts', 'InvalidateResult'],
  'session-faults': ['src/session/protocol.ts', 'FaultsResult'],
  'session-fault': ['src/session/engine.ts', 'FaultRecord'],
  'session-events': ['src/session/protocol.ts', 'EventsResult'],
  'session-event': ['src/session/engine.ts', 'EventRecord'],
  exec: ['src/handoff/records.ts', 'ExecRecord'],
  'exec-args': ['src/handoff/records.ts', 'ExecArgsRecord'],
  'fds-send': ['src/handoff/records.ts', 'FdsSendRecord'],
  'fds-receive': ['src/handoff/records.ts', 'FdsReceiveRecord'],
  'fds-header': ['src/handoff/fds.ts', 'FdsHeader'],
  faults: ['src/model/faults.ts', 'FaultsReport'],
  fault: ['src/model/faults.ts', 'FaultLine'],
  export: ['src/model/export.ts', 'HostExport'],
  'export-written': ['src/model/export.ts', 'ExportWritten'],
  diff: ['src/model/diff.ts', 'DiffReport'],
  'host-config': ['src/configure/host-config.ts', 'HostConfig'],
  'host-status': ['src/model/host-status.ts', 'HostStatusRecord'],
  'host-boot': ['src/model/boot.ts', 'BootRecord'],
}

fs.mkdirSync(path.join(repo, 'schemas'), {recursive: true})
for (const [name, [file, type]] of Object.entries(SCHEMAS)) {
  const schema = createGenerator({
    path: path.join(repo, file),
    tsconfig: path.join(repo, 'tsconfig.json'),
    type,
    additionalProperties: false,
    jsDoc: 'extended',
    skipTypeCheck: true,
  }).createSchema(type)
  const title =
    name === 'manifest' ? `iommuctl snapshot manifest (iommuctl-snapshot.json)` : `iommuctl ${name} --json`
  const out = {$id: `${name}.json`, title, ...schema}
  fs.writeFileSync(path.join(repo, 'schemas', `${name}.json`), JSON.stringify(out, null, 2) + '\n')
}
console.log(`wrote ${Object.keys(SCHEMAS).length} schemas to schemas/`)
