import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {defaultDomains, DomainList} from '../../src/model/domains.js'
import {liveDomains, LiveDomains} from '../../src/model/live.js'
import {renderDomainList, renderSessionObject} from '../../src/render/domains.js'
import type {EngineState, SessionObject} from '../../src/session/engine.js'
import {column, fixtureRoot, lineOf, plain} from '../helpers/roots.js'

const ioas: SessionObject = {
  id: 2,
  kind: 'ioas',
  name: 'main',
  parent: null,
  bdf: null,
  flags: [],
  type: null,
  faultQueue: null,
  depth: null,
  virtId: null,
  attachedTo: null,
  pasids: [],
  mappings: [
    {name: null, iova: '0x100000', length: '0x200000', memory: 'anonymous', readable: true, writable: true},
    {name: 'fw', iova: '0x400000', length: '0x1000', memory: 'memfd', readable: true, writable: false},
  ],
  hugePages: true,
  fd: null,
}

describe('renderDomainList', () => {
  const list: DomainList = {
    defaultDomains: defaultDomains(fixtureRoot('intel')),
    live: liveDomains(fixtureRoot('intel')),
    session: null,
  }

  it("each group's default domain with its devices, then why there is no session", () => {
    const text = plain(renderDomainList(list, {name: 'vm0', notRunning: 'no session vm0 (no socket)'}))
    const bridge = lineOf(text, '5 ')
    assert.equal(column(text, 'DEFAULT DOMAIN')(bridge), 'DMA')
    assert.equal(column(text, 'DEVICES')(bridge), '0000:00:07.0 0000:04:01.0 0000:04:02.0')
    assert.match(text, /\n\nsession vm0\nnot running: no session vm0 \(no socket\)$/)
  })

  it("a running session's objects and what it pins", () => {
    const state: EngineState = {iommufd: 5, objects: [ioas], pinnedBytes: 2101248, maxPinnedBytes: null}
    const text = plain(
      renderDomainList({...list, session: {name: 'vm0', state}}, {name: 'vm0', notRunning: ''}),
    )
    const objects = text.slice(text.indexOf('session vm0\n') + 'session vm0\n'.length)
    const row = lineOf(objects, '2 ')
    assert.equal(column(objects, 'NAME')(row), 'main')
    assert.match(column(objects, 'DETAIL')(row), /^0x100000\+0x200000 anonymous, 0x400000\+0x1000 memfd ro$/)
    assert.match(text, /iommufd fd 5, pinned 2101248 bytes$/)
  })
})

const noLive: LiveDomains = {
  source: 'sysfs',
  debugfs: {path: '/sys/kernel/debug/iommu/intel/dmar_translation_struct', state: 'not-mounted', note: 'x'},
  devices: [],
  others: [],
  notes: [],
}

describe('renderSessionObject', () => {
  it('an IOAS: each mapping on its own line, under the first', () => {
    const lines = plain(renderSessionObject(ioas)).split('\n')
    const at = lines.findIndex((l) => l.startsWith('mappings'))
    const first = lines[at]!.indexOf('0x100000')
    assert.ok(first > 0)
    assert.equal(lines[at + 1]!.indexOf('0x400000'), first)
    assert.match(lineOf(lines.join('\n'), 'name'), /main$/)
    assert.match(lineOf(lines.join('\n'), 'flags'), /-$/)
  })

  it('a device: what it is attached to and its PASIDs', () => {
    const device: SessionObject = {
      ...ioas,
      id: 3,
      kind: 'device',
      name: null,
      bdf: '0000:00:03.0',
      attachedTo: 2,
      pasids: [{pasid: 1, pt: 4}],
      mappings: [],
    }
    const text = plain(renderSessionObject(device))
    assert.match(lineOf(text, 'attached to'), /2$/)
    assert.match(lineOf(text, 'pasids'), /1 on 4$/)
    assert.match(lineOf(text, 'mappings'), /-$/)
  })
})

describe('nesting objects', () => {
  const dev = '0000:00:03.0'
  const objects = (
    [
      {...ioas, id: 1, mappings: []},
      {
        ...ioas,
        id: 3,
        kind: 'hwpt',
        name: 's2',
        parent: 1,
        bdf: dev,
        flags: ['nest-parent'],
        hugePages: null,
      },
      {...ioas, id: 4, kind: 'viommu', name: 'vi', parent: 3, bdf: dev, type: 'selftest', hugePages: null},
      {...ioas, id: 5, kind: 'vdevice', name: null, parent: 4, bdf: dev, virtId: '0x99', hugePages: null},
      {...ioas, id: 6, kind: 'hwpt', name: 's1', parent: 4, bdf: dev, type: 'selftest', hugePages: null},
    ] as SessionObject[]
  ).map((o) => ({...o, mappings: []}))

  it('session status: what each is made on, its type and virtual id', () => {
    const state: EngineState = {iommufd: 5, objects, pinnedBytes: 0, maxPinnedBytes: null}
    const text = plain(
      renderDomainList(
        {defaultDomains: [], live: noLive, session: {name: 'vm0', state}},
        {name: 'vm0', notRunning: ''},
      ),
    )
    const rows = text.slice(text.indexOf('session vm0\n') + 'session vm0\n'.length)
    const detail = (id: string) => column(rows, 'DETAIL')(lineOf(rows, `${id} `))
    assert.equal(detail('3'), `on ioas 1 for ${dev}, nest-parent`)
    assert.equal(detail('4'), `selftest on nest-parent hwpt 3 for ${dev}`)
    assert.equal(detail('5'), `${dev} as 0x99 on viommu 4`)
    assert.equal(detail('6'), `nested (selftest) on parent 4 for ${dev}`)
    assert.equal(column(rows, 'KIND')(lineOf(rows, '5 ')), 'vdevice')
  })

  it('domains show: a vDEVICE with its vIOMMU and virtual id', () => {
    const text = plain(renderSessionObject(objects[3]!))
    assert.match(lineOf(text, 'on'), /viommu 4$/)
    assert.match(lineOf(text, 'virtual id'), /0x99$/)
    assert.match(lineOf(text, 'kind'), /vdevice$/)
  })
})
