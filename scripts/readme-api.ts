// Keeps each package README's API section equal to what its entry points export.
//   node --import tsx scripts/readme-api.ts --check   fails (exit 1) when a README lists a name that is
//                                                     not exported, or misses one that is
//   node --import tsx scripts/readme-api.ts --write   (optionally --only=core,outbox) regenerates the sections from the exports and
//                                                     the first sentence of their TSDoc
// The section sits between `<!-- api:start -->` and `<!-- api:end -->` in packages/<name>/README.md.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import ts from 'typescript'

const ROOT = resolve(import.meta.dirname, '..')
const START = '<!-- api:start -->'
const END = '<!-- api:end -->'

type Entry = Readonly<{ specifier: string; file: string }>
type Exported = Readonly<{ name: string; kind: string; summary: string }>

/** The public packages and the source file of each subpath they export (bins and package.json left out). */
function publicEntries(): Map<string, Entry[]> {
  const packages = new Map<string, Entry[]>()
  for (const dir of readdirSync(join(ROOT, 'packages'))) {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', dir, 'package.json'), 'utf8'))
    if (manifest.private) continue
    const entries: Entry[] = []
    for (const [subpath, target] of Object.entries<Record<string, string> | string>(manifest.exports ?? {})) {
      if (typeof target === 'string' || !target['@annals/source']) continue
      entries.push({
        specifier: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`,
        file: join(ROOT, 'packages', dir, target['@annals/source']),
      })
    }
    packages.set(dir, entries)
  }
  return packages
}

function kindOf(symbol: ts.Symbol): string {
  const flags = symbol.flags
  if (flags & ts.SymbolFlags.Class) return 'class'
  if (flags & ts.SymbolFlags.Function) return 'function'
  if (flags & ts.SymbolFlags.Variable) return 'const'
  if (flags & ts.SymbolFlags.Interface) return 'interface'
  if (flags & ts.SymbolFlags.TypeAlias) return 'type'
  if (flags & ts.SymbolFlags.Enum) return 'enum'
  return 'value'
}

function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  const end = flat.search(/\.(\s|$)/)
  const sentence = end === -1 ? flat : flat.slice(0, end + 1)
  return sentence.replace(/\{@link ([^}]+)\}/g, '`$1`')
}

/** Every name an entry file exports (types included), with the first sentence of its TSDoc. */
function exportsOf(program: ts.Program, file: string): Exported[] {
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(file)
  const moduleSymbol = source && checker.getSymbolAtLocation(source)
  if (!moduleSymbol) throw new Error(`cannot read the exports of ${file}`)
  return checker
    .getExportsOfModule(moduleSymbol)
    .map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
      const summary = firstSentence(ts.displayPartsToString(target.getDocumentationComment(checker)))
      return { name: symbol.getName(), kind: kindOf(target), summary }
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}

function render(entries: ReadonlyArray<{ entry: Entry; names: Exported[] }>): string {
  const parts = [
    START,
    '',
    '<!-- Generated from the entry points and their TSDoc by `pnpm docs:api`; `pnpm docs:check` (part of `pnpm test`) keeps it in step. -->',
  ]
  for (const { entry, names } of entries) {
    // A list, not a table: biome pads table columns to the longest summary, which buries the names.
    parts.push('', `### \`${entry.specifier}\``, '')
    for (const n of names) parts.push(`- \`${n.name}\` (${n.kind})${n.summary ? `: ${n.summary}` : ''}`)
  }
  parts.push('', END)
  return parts.join('\n')
}

/** The names the README's API section lists per entry point (the code span opening each list item). */
function listed(section: string): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>()
  let current: Set<string> | undefined
  for (const line of section.split('\n')) {
    const heading = /^### `([^`]+)`/.exec(line)
    if (heading?.[1]) {
      current = new Set()
      result.set(heading[1], current)
      continue
    }
    const row = /^- `([^`]+)`/.exec(line)
    if (row?.[1] && current) current.add(row[1])
  }
  return result
}

const mode = process.argv[2]
if (mode !== '--check' && mode !== '--write') {
  process.stderr.write('usage: readme-api.ts --check | --write\n')
  process.exit(2)
}
// --only=core,outbox limits the run to those package folders.
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',')
const packages = new Map([...publicEntries()].filter(([dir]) => !only || only.includes(dir)))
const files = [...packages.values()].flat().map((e) => e.file)
const program = ts.createProgram(files, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  customConditions: ['@annals/source'],
  strict: true,
  skipLibCheck: true,
  noEmit: true,
})
const problems: string[] = []
let undocumented = 0
for (const [dir, entries] of packages) {
  const readmePath = join(ROOT, 'packages', dir, 'README.md')
  const readme = readFileSync(readmePath, 'utf8')
  const actual = entries.map((entry) => ({ entry, names: exportsOf(program, entry.file) }))
  undocumented += actual.flatMap((a) => a.names).filter((n) => n.summary === '').length
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (mode === '--write') {
    const section = render(actual)
    const next =
      start === -1 || end === -1
        ? `${readme.trimEnd()}\n\n## API\n\n${section}\n`
        : readme.slice(0, start) + section + readme.slice(end + END.length)
    if (next !== readme) writeFileSync(readmePath, next)
    continue
  }
  if (start === -1 || end === -1) {
    problems.push(`packages/${dir}/README.md: no API section (${START} … ${END}); run pnpm docs:api`)
    continue
  }
  const documented = listed(readme.slice(start, end))
  for (const { entry, names } of actual) {
    const inReadme = documented.get(entry.specifier)
    if (!inReadme) {
      problems.push(`packages/${dir}/README.md: no list for ${entry.specifier}`)
      continue
    }
    for (const n of names)
      if (!inReadme.has(n.name)) problems.push(`${entry.specifier}: ${n.name} is exported but not in the README`)
    const exported = new Set(names.map((n) => n.name))
    for (const name of inReadme)
      if (!exported.has(name)) problems.push(`${entry.specifier}: ${name} is in the README but not exported`)
  }
  for (const specifier of documented.keys()) {
    if (!entries.some((e) => e.specifier === specifier))
      problems.push(`${specifier}: in the README but not an entry point`)
  }
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n\n${problems.length} README API mismatch(es); run pnpm docs:api\n`)
  process.exit(1)
}
process.stdout.write(
  `README API sections ${mode === '--write' ? 'written' : 'match the exports'} (${files.length} entry points; ${undocumented} exports without TSDoc)\n`,
)
