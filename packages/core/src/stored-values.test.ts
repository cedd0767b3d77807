import { describe, expect, it } from 'vitest'
import type { ValidationError } from './errors.js'
import { checkName, findUnstorableText, MAX_NAME_BYTES, toStoredJson } from './stored-values.js'

function issueOf(run: () => unknown) {
  try {
    run()
  } catch (error) {
    expect((error as ValidationError).code).toBe('ANNALS_ERR_VALIDATION')
    return (error as ValidationError).issues[0]
  }
  throw new Error('expected a ValidationError')
}

describe('toStoredJson', () => {
  it('names the path of a lone surrogate or U+0000, in values and keys, after toJSON', () => {
    expect(issueOf(() => toStoredJson({ a: [1, { b: 'x\ud800' }] }, 'event data', ['s', 0, 'data']))?.path).toEqual([
      's',
      0,
      'data',
      'a',
      1,
      'b',
    ])
    expect(issueOf(() => toStoredJson({ 'k\udc00': 1 }, 'd', []))?.message).toMatch(/^has a key that .*lone surrogate/)
    expect(issueOf(() => toStoredJson({ n: 'a\u0000' }, 'd', []))?.message).toContain('U+0000')
    const custom = { toJSON: () => ({ hidden: '\udbff' }) }
    expect(issueOf(() => toStoredJson({ custom }, 'd', []))?.path).toEqual(['custom', 'hidden'])
  })

  it('tells escapes from text: a backslash before a lone surrogate is caught, "\\ud800" as text is not', () => {
    expect(issueOf(() => toStoredJson('\\\ud800', 'd', []))?.message).toContain('lone surrogate')
    expect(toStoredJson({ t: '\\ud800', u: '\\\\u0000', e: '\ud83d\ude00' }, 'd', [])).toBe(
      '{"t":"\\\\ud800","u":"\\\\\\\\u0000","e":"\ud83d\ude00"}',
    )
  })
})

describe('checkName', () => {
  it('measures UTF-8 bytes, not characters', () => {
    expect(checkName('a'.repeat(MAX_NAME_BYTES), 'stream id', [])).toHaveLength(MAX_NAME_BYTES)
    const wide = '\u00e9'.repeat(MAX_NAME_BYTES / 2 + 1)
    expect(issueOf(() => checkName(wide, 'stream id', ['streamId']))?.message).toContain(
      `${MAX_NAME_BYTES + 2} UTF-8 bytes`,
    )
  })
})

describe('findUnstorableText', () => {
  it('names the first string or key a store cannot keep, under the given path, and nothing in clean input', () => {
    expect(findUnstorableText({ owner: 'Eve', tags: ['ok', 'x\ud800'] }, ['body'])).toEqual({
      path: ['body', 'tags', 1],
      message: expect.stringContaining('lone surrogate'),
    })
    expect(findUnstorableText({ q: 'a\u0000' }, ['query'])?.path).toEqual(['query', 'q'])
    expect(findUnstorableText({ 'k\udc00': 1 })?.message).toMatch(/^has a key that/)
    expect(findUnstorableText({ emoji: '\ud83d\ude00', n: 1, x: null, text: '\\ud800' }, ['body'])).toBeNull()
    expect(findUnstorableText(undefined)).toBeNull()
  })
})
