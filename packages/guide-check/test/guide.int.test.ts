import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DOCS_DIR, runPage } from '../src/run-page.js'

// Every page of docs/ runs, in page order, against the real servers: a block that no longer compiles
// against the packages, a command whose output changed, or an error that no longer says what to do
// fails here.
const pages = readdirSync(DOCS_DIR, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.md') && file !== 'README.md')
  .sort()

const HOW_TOS = ['how-to/add-a-projection.md', 'how-to/test-with-given-when-then.md', 'how-to/upcast-an-event.md']

describe('the guide runs', () => {
  it('has the tutorial and the how-to pages', () => {
    expect(pages).toContain('getting-started.md')
    expect(pages.filter((p) => p.startsWith('how-to/'))).toEqual(expect.arrayContaining(HOW_TOS))
  })
  for (const page of pages) {
    it(`runs ${page}`, async () => {
      const run = await runPage(page)
      expect(run.output.length).toBeGreaterThan(0)
    })
  }
})
