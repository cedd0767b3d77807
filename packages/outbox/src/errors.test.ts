import { readFileSync } from 'node:fs'
import { isAnnalsError } from '@annals/core'
import { describe, expect, it } from 'vitest'
import * as errors from './errors.js'
import { OutboxErrorCodes } from './errors.js'
import * as api from './index.js'

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
const documented = [...docs.matchAll(/^\| `(ANNALS_OUTBOX_ERR_[A-Z_]+)` +\|/gm)].map((m) => m[1])

describe('error catalogue', () => {
  const codes = Object.values(OutboxErrorCodes)

  it('has unique codes, all prefixed ANNALS_OUTBOX_ERR_', () => {
    expect(new Set(codes).size).toBe(codes.length)
    for (const code of codes) expect(code).toMatch(/^ANNALS_OUTBOX_ERR_[A-Z_]+$/)
  })

  it('documents every code exactly once in docs/errors.md, and nothing else', () => {
    expect([...documented].sort()).toEqual([...codes].sort())
  })

  it('exports the codes and every error class from the package entry', () => {
    expect(api.OutboxErrorCodes).toBe(OutboxErrorCodes)
    for (const [name, value] of Object.entries(errors)) {
      expect((api as Record<string, unknown>)[name], name).toBe(value)
    }
  })

  it('gives each error class a distinct code that isAnnalsError recognises', () => {
    const samples = [
      new errors.InvalidIdentifierError('schema name', 'X'),
      new errors.InvalidOptionError('batchSize', 'bad'),
      new errors.InvalidPublicationError('E', 'bad'),
      new errors.OutboxMigrationError('bad', undefined),
      new errors.PublishFailedError(['m'], 'bad'),
      new errors.PublishTimeoutError(5),
      new errors.MalformedMessageError('1-0', 'bad'),
      new errors.AlreadyStartedError('x'),
    ]
    expect(samples.map((e) => e.code).sort()).toEqual([...codes].sort())
    for (const e of samples) expect(isAnnalsError(e, e.code)).toBe(true)
    expect(errors.isPublishFailedError(samples[4])).toBe(true)
    expect(errors.isPublishFailedError(samples[5])).toBe(false)
  })
})
