import { readFileSync } from 'node:fs'
import { type AnnalsError, isAnnalsError } from '@annals/core'
import { describe, expect, it } from 'vitest'
import * as cli from './index.js'
import { formatSeconds, renderTable, toJson } from './output.js'

const docs = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')
const documented = [...docs.matchAll(/^\| `(ANNALS_[A-Z_]+)` *\|/gm)].map((m) => m[1])
const codes = Object.values(cli.CliErrorCodes)

const instances: AnnalsError[] = [
  new cli.ConfigNotFoundError(['a']),
  new cli.ConfigInvalidError('f', 'bad'),
  new cli.MissingEnvError('DATABASE_URL', 'why'),
  new cli.UnreachableError('postgres', 'x', { cause: new Error('refused') }),
  new cli.UsageError('bad'),
  new cli.CliNotMigratedError(),
]

describe('error catalogue', () => {
  it('has unique codes, all prefixed ANNALS_CLI_ERR_, all documented', () => {
    expect(new Set(codes).size).toBe(codes.length)
    for (const code of codes) expect(code).toMatch(/^ANNALS_CLI_ERR_[A-Z_]+$/)
    expect([...documented].sort()).toEqual([...codes].sort())
  })

  it('has one exported error class per code', () => {
    expect(instances.map((e) => e.code).sort()).toEqual([...codes].sort())
    for (const error of instances) {
      expect((cli as Record<string, unknown>)[error.name]).toBe(error.constructor)
      expect(isAnnalsError(error, error.code)).toBe(true)
    }
  })
})

describe('output', () => {
  it('aligns tables, serialises bigints and formats durations', () => {
    expect(renderTable(['A', 'BB'], [['xxx', 'y']])).toBe('A    BB\nxxx  y')
    expect(toJson({ n: 10n })).toBe('{\n  "n": "10"\n}')
    expect(formatSeconds(0.42)).toBe('0.4s')
    expect(formatSeconds(185)).toBe('3m05s')
    expect(formatSeconds(null)).toBe('-')
  })
})
