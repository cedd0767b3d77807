import { KafkaInvalidOptionError } from './errors.js'

/** Broker addresses, given as `host:port` strings or one comma-separated string (the `KAFKA_BROKERS` form). */
export type Brokers = string | readonly string[]

/** Normalises {@link Brokers} to a non-empty list of `host:port`; a bad entry is a `KafkaInvalidOptionError`. */
export function parseBrokers(brokers: Brokers | undefined, option = 'brokers'): string[] {
  const list = (typeof brokers === 'string' ? brokers.split(',') : [...(brokers ?? [])])
    .map((b) => b.trim())
    .filter((b) => b.length > 0)
  if (list.length === 0) throw new KafkaInvalidOptionError(option, 'name at least one broker as host:port')
  for (const b of list) {
    if (!/^[^:\s]+:\d{1,5}$/.test(b)) throw new KafkaInvalidOptionError(option, `"${b}" is not host:port`)
  }
  return list
}
