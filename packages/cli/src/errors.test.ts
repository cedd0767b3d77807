import { errorCatalogueSuite } from '@annals/core/testing'
import { describe, expect, it } from 'vitest'
import * as cli from './index.js'
import { formatSeconds, renderTable, toJson } from './output.js'

errorCatalogueSuite({
  name: '@annals/cli',
  codes: cli.CliErrorCodes,
  prefix: 'ANNALS_CLI_ERR_',
  entry: cli,
  instances: [
    new cli.ConfigNotFoundError(['a']),
    new cli.ConfigInvalidError('f', 'bad'),
    new cli.MissingEnvError('DATABASE_URL', 'why'),
    new cli.UnreachableError('postgres', 'x', { cause: new Error('refused') }),
    new cli.UsageError('bad'),
    new cli.CliNotMigratedError(),
    new cli.MissingPackageError('@annals/outbox', 'outbox status'),
  ],
  docs: new URL('../docs/errors.md', import.meta.url),
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
