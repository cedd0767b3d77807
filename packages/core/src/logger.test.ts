import { describe, expect, it } from 'vitest'
import { type Logger, silentLogger, toLogger } from './logger.js'

const LEVELS = ['debug', 'info', 'warn', 'error'] as const

/** A logger that records `(level, fields, message)` and checks it is called with itself as `this`. */
function recordingLogger() {
  const calls: [string, object, string | undefined][] = []
  const logger = {} as Logger
  for (const level of LEVELS) {
    logger[level] = function (this: unknown, fields: object, message?: string) {
      expect(this).toBe(logger)
      calls.push([level, fields, message])
    }
  }
  return { logger, calls }
}

describe('silentLogger', () => {
  it('accepts every level and drops it', () => {
    for (const level of LEVELS) expect(silentLogger[level]({ a: 1 }, 'x')).toBeUndefined()
  })

  it('is frozen, so no component can turn the shared default into a real logger', () => {
    expect(Object.isFrozen(silentLogger)).toBe(true)
  })
})

describe('toLogger', () => {
  it('gives the silent logger when none is passed', () => {
    expect(toLogger(undefined)).toBe(silentLogger)
  })

  it('returns a complete logger as it is (pino keeps its bindings)', () => {
    const { logger, calls } = recordingLogger()
    const same = toLogger(logger)
    expect(same).toBe(logger)
    same.warn({ id: 1 }, 'careful')
    expect(calls).toEqual([['warn', { id: 1 }, 'careful']])
  })

  it('fills the levels a partial logger lacks with no-ops and binds the ones it has', () => {
    const { logger, calls } = recordingLogger()
    const partial = { info: logger.info, error: logger.error }
    Object.assign(logger, { debug: undefined, warn: undefined })
    const full = toLogger(Object.assign(logger, partial))
    for (const level of LEVELS) full[level]({ level }, level)
    expect(calls).toEqual([
      ['info', { level: 'info' }, 'info'],
      ['error', { level: 'error' }, 'error'],
    ])
  })

  it('turns an empty object into a logger that drops everything', () => {
    const full = toLogger({})
    for (const level of LEVELS) expect(() => full[level]({})).not.toThrow()
  })
})
