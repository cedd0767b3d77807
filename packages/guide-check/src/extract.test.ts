import { describe, expect, it } from 'vitest'
import { codeBlocks, matchOutput, pageProgram, parseCommand } from './extract.js'

const fence = '```'

describe('reading a guide page', () => {
  it('splits blocks with their language, flags and file attribute', () => {
    const blocks = codeBlocks(
      `# t\n${fence}ts file=shop.ts\nconst a = 1\n${fence}\n\n${fence}text output\nhi\n${fence}\n`,
    )
    expect(blocks.map((b) => [b.lang, b.attributes.file, b.flags, b.code, b.line])).toEqual([
      ['ts', 'shop.ts', [], 'const a = 1', 2],
      ['text', undefined, ['output'], 'hi', 6],
    ])
  })

  it('concatenates unnamed TypeScript blocks into the main module with the harness calls in page order', () => {
    const page = [
      `${fence}ts\nconst x = 1\n${fence}`,
      `${fence}console\n$ DATABASE_URL= annals migrate\nerror …\n${fence}`,
      `${fence}ts\nconsole.log(x)\n${fence}`,
      `${fence}text output\n1\n${fence}`,
    ].join('\n')
    const { main } = pageProgram('p.md', page)
    const order = ['const x = 1', '__guide.shell(', 'console.log(x)', '__guide.expectOutput("1")'].map((s) =>
      main.indexOf(s),
    )
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > (order[i - 1] as number)))).toBe(true)
    expect(main).toContain('"env":{"DATABASE_URL":""},"program":"annals","args":["migrate"]')
  })

  it('refuses a shell line it cannot run, naming the page and line', () => {
    expect(() => pageProgram('p.md', `text\n${fence}bash\ncurl http://x\n${fence}`)).toThrow(
      'p.md:2: a shell line the guide checker cannot run: curl http://x',
    )
    expect(() => pageProgram('p.md', `${fence}python\nprint(1)\n${fence}`)).toThrow('unknown block language')
  })

  it('collects installs and exports for the harness to check', () => {
    const { installs, exports } = pageProgram(
      'p.md',
      `${fence}bash\npnpm add @annals/core zod\nexport A=1 B=2\n${fence}`,
    )
    expect(installs).toEqual(['@annals/core', 'zod'])
    expect(exports).toEqual(['A', 'B'])
  })

  it('parses environment prefixes and quoted words', () => {
    expect(parseCommand(`X=1 annals dlq list --projection "a b"`)).toEqual({
      env: { X: '1' },
      program: 'annals',
      args: ['dlq', 'list', '--projection', 'a b'],
    })
  })
})

describe('matching output', () => {
  it('finds the expected lines in order, with … as a wildcard and whitespace collapsed', () => {
    expect(() => matchOutput('a  1\nb 2\nc 3', 'a 1\nc …')).not.toThrow()
    expect(() => matchOutput('c 3\na 1', 'a 1\nc 3')).toThrow('expected output line not found: c 3')
    expect(() => matchOutput('version 10n', 'version 1n')).toThrow()
  })
})
