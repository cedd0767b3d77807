/** The logging calls Annals sagas make: a pino logger fits; the default logs nothing. */
export interface SagaLogger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

const noop = () => {}

/** A logger that drops everything (the default of the engine, which has no logging dependency). */
export const silentLogger: SagaLogger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop })
