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

/** Fills the levels a partial logger lacks with no-ops (pino loggers pass through unchanged). */
export function toLogger(logger: PartialLogger | undefined): Logger {
  if (logger === undefined) return silentLogger
  const bind = (level: keyof Logger) => logger[level]?.bind(logger) ?? drop
  return { debug: bind('debug'), info: bind('info'), warn: bind('warn'), error: bind('error') }
}
