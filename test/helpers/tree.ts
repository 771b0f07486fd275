import * as fs from 'node:fs'
import * as path from 'node:path'

export type TreeEntry = {type: 'dir'} | {type: 'file'; data: Buffer} | {type: 'link'; target: string}

/** Every entry under dir by relative path, links read as links, never followed. */
export function readTree(dir: string): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>()
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name
      const st = fs.lstatSync(path.join(dir, r))
      if (st.isSymbolicLink()) out.set(r, {type: 'link', target: fs.readlinkSync(path.join(dir, r))})
      else if (st.isDirectory()) {
        out.set(r, {type: 'dir'})
        walk(r)
      } else out.set(r, {type: 'file', data: fs.readFileSync(path.join(dir, r))})
    }
  }
  walk('')
  return out
}

/** The differences between two trees, as readable lines; empty when they are the same. */
export function diffTrees(a: string, b: string): string[] {
  const ta = readTree(a)
  const tb = readTree(b)
  const diffs: string[] = []
  for (const [p, ea] of ta) {
    const eb = tb.get(p)
    if (!eb) diffs.push(`only in ${a}: ${p}`)
    else if (ea.type !== eb.type) diffs.push(`${p}: ${ea.type} vs ${eb.type}`)
    else if (ea.type === 'link' && eb.type === 'link' && ea.target !== eb.target)
      diffs.push(`${p}: -> ${ea.target} vs ${eb.target}`)
    else if (ea.type === 'file' && eb.type === 'file' && !ea.data.equals(eb.data))
      diffs.push(`${p}: contents differ`)
  }
  for (const p of tb.keys()) if (!ta.has(p)) diffs.push(`only in ${b}: ${p}`)
  return diffs
}
