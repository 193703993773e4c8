// The costs a .cpuprofile shows, as text: the functions with the most self time, and the most
// inclusive time (a function's own and its callees', each sample counted once however deep the
// function recurses), as shares of the samples.
//
//   node dist/bench/profile/top.js FILE.cpuprofile [--limit 25] [--match TEXT]
//
// --match keeps the inclusive list to the functions whose name or file holds TEXT.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
}

const { values: argv, positionals } = parseArgs({ allowPositionals: true, options: { limit: { type: 'string', default: '25' }, match: { type: 'string' } } })
const file = positionals[0]
if (!file) {
  process.stderr.write('usage: top FILE.cpuprofile [--limit N] [--match TEXT]\n')
  process.exit(2)
}
const limit = Number(argv.limit)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map<number, number>()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

const label = (n: ProfileNode): string => {
  const f = n.callFrame
  const where = f.url ? `${f.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : ''
  return `${f.functionName || '(anonymous)'} ${where}`.trim()
}

const self = new Map<string, number>()
const inclusive = new Map<string, number>()
for (const s of profile.samples) {
  const leaf = byId.get(s)
  if (!leaf) continue
  self.set(label(leaf), (self.get(label(leaf)) ?? 0) + 1)
  const seen = new Set<string>()
  for (let id: number | undefined = s; id !== undefined; id = parent.get(id)) {
    const l = label(byId.get(id)!)
    if (seen.has(l)) continue
    seen.add(l)
    inclusive.set(l, (inclusive.get(l) ?? 0) + 1)
  }
}
const total = profile.samples.length
const print = (title: string, m: Map<string, number>, keep: (l: string) => boolean): void => {
  process.stdout.write(`\n${title} (of ${total} samples)\n`)
  for (const [l, n] of [...m].filter(([l]) => keep(l)).sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    process.stdout.write(`${((100 * n) / total).toFixed(1).padStart(5)} %  ${l}\n`)
  }
}
print('self', self, () => true)
const match = argv.match
print('inclusive', inclusive, (l) => (match ? l.includes(match) : !l.startsWith('(root)')))
