// Turns one guide page (Markdown) into what the checker runs: the files its TypeScript blocks make and
// one main module in page order, where shell commands and expected output become calls to the harness.

/** A fenced code block of a page: its info string split into language and `key=value` attributes. */
export type CodeBlock = Readonly<{
  lang: string
  attributes: Readonly<Record<string, string>>
  flags: readonly string[]
  code: string
  /** 1-based line of the opening fence, for error messages. */
  line: number
}>

/** One shell command of a page: its environment overrides (empty value = unset) and its arguments. */
export type ShellCommand = Readonly<{ env: Readonly<Record<string, string>>; program: string; args: readonly string[] }>

/** What a page asks the checker to do. */
export type PageProgram = Readonly<{
  /** Files written beside the main module (`ts file=shop.ts` blocks), path → content. */
  files: ReadonlyMap<string, string>
  /** The main module: every `ts` block without `file=`, in order, with harness calls between them. */
  main: string
  /** Packages the page installs (`pnpm add …`): each must be one the checker itself depends on. */
  installs: readonly string[]
  /** Variables the page exports (`export X=…`): each must be one the checker provides. */
  exports: readonly string[]
}>

/** A page asks for something the checker cannot run (an unknown shell line, an unknown block language). */
export class GuidePageError extends Error {
  constructor(page: string, line: number, message: string) {
    super(`${page}:${line}: ${message}`)
    this.name = 'GuidePageError'
  }
}

const FENCE = /^(`{3,}|~{3,})\s*(.*)$/

/** Splits a page into its fenced code blocks. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? '')
    if (!open) continue
    const fence = open[1] as string
    const [lang = '', ...rest] = (open[2] ?? '').trim().split(/\s+/)
    const attributes: Record<string, string> = {}
    const flags: string[] = []
    for (const word of rest) {
      const eq = word.indexOf('=')
      if (eq > 0) attributes[word.slice(0, eq)] = word.slice(eq + 1).replace(/^"(.*)"$/, '$1')
      else if (word) flags.push(word)
    }
    const body: string[] = []
    let j = i + 1
    while (j < lines.length && !(lines[j] ?? '').startsWith(fence)) body.push(lines[j++] ?? '')
    blocks.push({ lang, attributes, flags, code: body.join('\n'), line: i + 1 })
    i = j
  }
  return blocks
}

/** Splits a shell line into words (single and double quotes group, no expansion). */
export function shellWords(line: string): string[] {
  const words: string[] = []
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] ?? m[2] ?? m[3] ?? '')
  return words
}

/** Parses `[VAR=value …] program args…`. */
export function parseCommand(line: string): ShellCommand {
  const words = shellWords(line)
  const env: Record<string, string> = {}
  while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? '')) {
    const word = words.shift() as string
    const eq = word.indexOf('=')
    env[word.slice(0, eq)] = word.slice(eq + 1)
  }
  const [program = '', ...args] = words
  return { env, program, args }
}

const INSTALL = /^(pnpm add|npm install|npm i)\s+/
const RUN_MAIN = /^(npx|pnpm exec|pnpm) tsx (\S+)$/

/**
 * Builds a page's program. Shell lines may only be installs (checked against the checker's own
 * dependencies), `export VAR=…` (the checker provides the variable), `npx tsx main.ts` (the main
 * module itself), comments, or `annals …` (run in process). A `console` block runs its `$ ` lines and
 * checks that the output holds the lines under each; a `text output` block checks what the main module
 * printed since the previous check. `…` in an expected line matches anything.
 */
export function pageProgram(page: string, markdown: string): PageProgram {
  const files = new Map<string, string>()
  const main: string[] = []
  const installs: string[] = []
  const exports: string[] = []
  for (const block of codeBlocks(markdown)) {
    const at = (message: string) => new GuidePageError(page, block.line, message)
    switch (block.lang) {
      case 'ts':
      case 'typescript': {
        const file = block.attributes.file
        if (file && file !== 'main.ts') files.set(file, `${files.get(file) ?? ''}${block.code}\n`)
        else main.push(`// ${page}:${block.line}`, block.code)
        break
      }
      case 'bash':
      case 'sh':
        for (const raw of block.code.split('\n')) {
          const line = raw.replace(/\s+#.*$/, '').trim()
          if (!line || line.startsWith('#')) continue
          if (INSTALL.test(line))
            installs.push(
              ...line
                .replace(INSTALL, '')
                .split(/\s+/)
                .filter((w) => !w.startsWith('-')),
            )
          else if (line.startsWith('export ')) {
            for (const word of shellWords(line.slice('export '.length))) exports.push(word.split('=')[0] ?? '')
          } else if (RUN_MAIN.test(line)) {
            if (RUN_MAIN.exec(line)?.[2] !== 'main.ts') throw at(`only main.ts is run, not: ${line}`)
          } else if (parseCommand(line).program === 'annals') main.push(shellCall(line, []))
          else throw at(`a shell line the guide checker cannot run: ${line}`)
        }
        break
      case 'console': {
        let command: string | null = null
        let expected: string[] = []
        const flush = () => {
          if (command !== null) main.push(shellCall(command, expected))
          command = null
          expected = []
        }
        for (const line of block.code.split('\n')) {
          if (line.startsWith('$ ')) {
            flush()
            command = line.slice(2).trim()
            if (parseCommand(command).program !== 'annals') throw at(`only annals commands run here: ${command}`)
          } else if (command === null) {
            if (line.trim()) throw at(`output before any "$ " command: ${line}`)
          } else expected.push(line)
        }
        flush()
        break
      }
      case 'text':
        if (block.flags.includes('output')) main.push(`await __guide.expectOutput(${JSON.stringify(block.code)})`)
        break
      case 'json':
      case 'sql':
      case '':
        break // shown, not run (diagrams, tables)
      default:
        throw at(`unknown block language "${block.lang}" (ts, bash, console, text output)`)
    }
  }
  const header = 'const __guide = (globalThis as any).__guide\n'
  return { files, main: `${header}${main.join('\n')}\n`, installs, exports }
}

function shellCall(line: string, expected: readonly string[]): string {
  return `await __guide.shell(${JSON.stringify(parseCommand(line))}, ${JSON.stringify(expected.join('\n'))})`
}

/**
 * Checks that `output` holds `expected`'s non-empty lines in order (whitespace collapsed, `…` matching
 * anything) and returns where the last match ended, or throws naming the first missing line.
 */
export function matchOutput(output: string, expected: string): number {
  const normal = (text: string) => text.replace(/[ \t]+/g, ' ').trim()
  const haystack = output.split('\n').map(normal).join('\n')
  let cursor = 0
  for (const line of expected.split('\n').map(normal)) {
    if (!line) continue
    const pattern = new RegExp(
      line
        .split('…')
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*?'),
    )
    const found = pattern.exec(haystack.slice(cursor))
    if (!found) throw new Error(`expected output line not found: ${line}\n--- output was ---\n${output}`)
    cursor += found.index + found[0].length
  }
  return cursor
}
