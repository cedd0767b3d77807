import pg from 'pg'

/**
 * Counts the statements sent through `pg` while `fn` runs (every `Client#query`, which is how
 * `Pool#query` sends too): the round trips one operation costs. The counter is installed only for the
 * call, so it never weighs on a timed run. Connection set-up is not counted (open the pool first).
 */
export async function countRoundTrips(fn: () => Promise<unknown>): Promise<number> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }
  const original = proto.query
  let count = 0
  proto.query = function (this: unknown, ...args: unknown[]) {
    count++
    return original.apply(this, args)
  }
  try {
    await fn()
  } finally {
    proto.query = original
  }
  return count
}
