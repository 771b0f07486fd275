import * as fs from 'node:fs'
import * as path from 'node:path'

import {ExitCode, IommuctlError} from '../errors.js'
import {notAFile, writeTextFile} from '../output.js'
import {Bdf} from '../records.js'
import {schemaProblem, schemaValidators} from '../schema.js'
import {readRegularFile} from '../session/plan.js'
import {HostConfig, MAX_CONFIG_BYTES, readHostConfig} from './host-config.js'

/** One device's entry as `devices bind/unbind --persist` leaves it: a driver (and group), or gone (null). */
export interface PersistEdit {
  bdf: Bdf
  driver: string | null
  group?: boolean
}

const KIND = {
  what: 'the host config',
  suggestion: 'Check that the directory exists and is writable (sudo), or give another --config.',
}

/**
 * Edits a host config after a bind or unbind: the device's `bdf` entry gets the driver (and
 * `group: true`), or goes. The config is checked as `host apply` checks it before and after the
 * edit; YAML keeps its comments and order, JSON stays JSON. Written beside it and renamed over
 * it (src/output.ts), never through a symlink; made, with its directory, when absent.
 */
export async function persistEdits(file: string, edits: PersistEdit[]): Promise<void> {
  const st = fs.lstatSync(file, {throwIfNoEntry: false})
  let text = ''
  if (st) {
    const why = notAFile(file)
    if (why !== null) {
      throw new IommuctlError(
        'BAD_CONFIG',
        `${file} is ${why}: iommuctl edits only a regular file; nothing was changed.`,
        {
          exit: ExitCode.usage,
          path: file,
          suggestion: 'Give the real file with --config.',
        },
      )
    }
    await readHostConfig(file)
    text = readRegularFile(file, MAX_CONFIG_BYTES, {
      code: 'BAD_CONFIG',
      name: 'The host config',
      suggestion: KIND.suggestion,
    }).toString('utf8')
  }
  const yaml = await import('yaml')
  const json = text.trimStart().startsWith('{')
  const doc: InstanceType<typeof yaml.Document> = text ? yaml.parseDocument(text) : new yaml.Document({})
  let devices = doc.get('devices')
  if (!yaml.isSeq(devices)) {
    devices = doc.createNode([])
    doc.set('devices', devices)
  }
  const seq = devices as InstanceType<typeof yaml.YAMLSeq>
  for (const e of edits) {
    const at = seq.items.findIndex((item) => yaml.isMap(item) && item.get('bdf') === e.bdf)
    if (e.driver === null) {
      if (at >= 0) seq.delete(at)
      continue
    }
    const entry = {bdf: e.bdf, driver: e.driver, ...(e.group ? {group: true} : {})}
    if (at < 0) seq.add(doc.createNode(entry))
    else {
      const item = seq.items[at] as InstanceType<typeof yaml.YAMLMap>
      item.set('driver', e.driver)
      if (e.group) item.set('group', true)
      else item.delete('group')
    }
  }
  const data = doc.toJS() as HostConfig
  const bad = schemaValidators('host-config').whole(data)
  if (bad) {
    const {where, message} = schemaProblem(bad, '')
    throw new IommuctlError(
      'BAD_CONFIG',
      `${file}: the edit would leave ${where}: ${message}; nothing was changed.`,
      {
        exit: ExitCode.usage,
        path: file,
      },
    )
  }
  fs.mkdirSync(path.dirname(file), {recursive: true, mode: 0o755})
  await writeTextFile(file, json ? JSON.stringify(data, null, 2) + '\n' : doc.toString(), {
    force: true,
    kind: KIND,
  })
}
