#!/usr/bin/env node
// Fails when the TypeScript sources import each other in a cycle, type-only imports included
// (`import type`, `export ... from`, `import('...')` types): each module has one owner, and a
// cycle means two modules own each other. Prints every cycle it finds as a path of files.
// Usage: node scripts/check-cycles.js [DIR]   (default: src of this repository)
import * as fs from 'node:fs'
import * as path from 'node:path'
import {fileURLToPath} from 'node:url'

/** Every .ts file under dir, sorted, as paths relative to dir. */
function sources(dir) {
  const out = []
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(dir, rel), {withFileTypes: true})) {
      const r = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(r)
      else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(r)
    }
  }
  walk('')
  return out.sort()
}

// import ... from 'x', import 'x', export ... from 'x', import('x'), across lines; comments stripped first.
const SPECIFIER =
  /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/[^\n]*/g, '$1')
}

/** The relative imports of one file, resolved to files under dir (a .js specifier names its .ts). */
export function importsOf(dir, rel, known) {
  const text = stripComments(fs.readFileSync(path.join(dir, rel), 'utf8'))
  const deps = new Set()
  for (const m of text.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3]
    if (!spec.startsWith('.')) continue
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec))
    const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, `${base}/index.ts`]
    const hit = candidates.find((c) => known.has(c))
    if (hit) deps.add(hit)
  }
  return [...deps].sort()
}

/** Every elementary cycle's representative: one per strongly connected component of size > 1 (or a self-import). */
export function findCycles(dir) {
  const files = sources(dir)
  const known = new Set(files)
  const graph = new Map(files.map((f) => [f, importsOf(dir, f, known)]))
  // Tarjan's strongly connected components, iteratively.
  let index = 0
  const idx = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const components = []
  for (const start of files) {
    if (idx.has(start)) continue
    const visit = (v) => {
      idx.set(v, index)
      low.set(v, index)
      index++
      stack.push(v)
      onStack.add(v)
    }
    const work = [[start, 0]]
    visit(start)
    while (work.length) {
      const frame = work[work.length - 1]
      const [v, i] = frame
      const deps = graph.get(v)
      if (i < deps.length) {
        frame[1]++
        const w = deps[i]
        if (!idx.has(w)) {
          visit(w)
          work.push([w, 0])
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)))
        continue
      }
      work.pop()
      if (work.length) {
        const parent = work[work.length - 1][0]
        low.set(parent, Math.min(low.get(parent), low.get(v)))
      }
      if (low.get(v) === idx.get(v)) {
        const comp = []
        let w
        do {
          w = stack.pop()
          onStack.delete(w)
          comp.push(w)
        } while (w !== v)
        if (comp.length > 1 || graph.get(v).includes(v)) components.push(comp.sort())
      }
    }
  }
  // Name one concrete cycle inside each component: a shortest path back to its first file.
  return components.map((comp) => {
    const inComp = new Set(comp)
    const first = comp[0]
    const prev = new Map([[first, null]])
    const queue = [first]
    let end = null
    while (queue.length && end === null) {
      const v = queue.shift()
      for (const w of graph.get(v)) {
        if (!inComp.has(w)) continue
        if (w === first) {
          end = v
          break
        }
        if (!prev.has(w)) {
          prev.set(w, v)
          queue.push(w)
        }
      }
    }
    const cycle = []
    for (let v = end; v !== null; v = prev.get(v)) cycle.unshift(v)
    return {files: comp, cycle: [...cycle, first]}
  })
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
  const dir = path.resolve(process.argv[2] ?? path.join(repo, 'src'))
  const cycles = findCycles(dir)
  if (cycles.length) {
    for (const c of cycles) console.error(`Import cycle: ${c.cycle.join(' -> ')}`)
    console.error(
      `${cycles.length} import cycle(s) under ${path.relative(process.cwd(), dir) || '.'} (type-only imports count).`,
    )
    process.exit(1)
  }
  console.log(`No import cycle under ${path.relative(process.cwd(), dir) || '.'}.`)
}
