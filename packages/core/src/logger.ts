/**
 * The structured logging calls Annals makes: `(fields, message)`, pino's signature, so a pino logger
 * (the default the apps pass in) fits as it is. Libraries never construct a logger themselves.
 */
export interface Logger {
  debug(fields: object, message?: string): void
  info(fields: object, message?: string): void
  warn(fields: object, message?: string): void
  error(fields: object, message?: string): void
}

const drop = (): void => {}

/** A logger that drops everything: the default of every Annals component. */
export const silentLogger: Logger = Object.freeze({ debug: drop, info: drop, warn: drop, error: drop })

/** A logger shape that may lack some levels (an older option type, a partial test double). */
export type PartialLogger = Partial<Logger>

const LEVELS = ['debug', 'info', 'warn', 'error'] as const

/**
 * Fills the levels a partial logger lacks with no-ops. A complete logger (pino, a child logger) is
 * returned as it is, so its bindings and level changes keep applying.
 */
export function toLogger(logger: PartialLogger | undefined): Logger {
  if (logger === undefined) return silentLogger
  if (LEVELS.every((level) => typeof logger[level] === 'function')) return logger as Logger
  const bind = (level: keyof Logger) => logger[level]?.bind(logger) ?? drop
  return { debug: bind('debug'), info: bind('info'), warn: bind('warn'), error: bind('error') }
}

/**
 * A logger that adds `fields` to every entry: pino's own `child` when the logger has one (it binds the
 * fields once instead of merging them per call), otherwise a merging wrapper.
 */
export function withLogFields(logger: Logger, fields: Readonly<Record<string, unknown>>): Logger {
  const child = (logger as Logger & { child?: (bindings: object) => Logger }).child
  if (typeof child === 'function') return child.call(logger, fields)
  return {
    debug: (entry, message) => logger.debug({ ...fields, ...entry }, message),
    info: (entry, message) => logger.info({ ...fields, ...entry }, message),
    warn: (entry, message) => logger.warn({ ...fields, ...entry }, message),
    error: (entry, message) => logger.error({ ...fields, ...entry }, message),
  }
}
