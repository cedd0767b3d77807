/** The slice of an outbox publisher the hooks wrap (structural: this package depends on no Annals package). */
export type PublisherLike<M> = { publish(messages: readonly M[]): Promise<void> }

/** What a relay worker of a crash test hands to `createOutboxRelay`. */
export type RelayCrashHooks<M> = Readonly<{
  /** The publisher, waiting up to `PUBLISH_DELAY_MS` (random) before each publish to widen race windows. */
  publisher: PublisherLike<M>
  /** Set when the environment asks for a hang after a batch the broker acknowledged, before it is marked sent. */
  afterPublish: ((messages: readonly M[]) => Promise<void>) | undefined
  batchSize: number
}>

/**
 * The fault hooks every spawned relay worker takes from its environment, so the Redis, Kafka and
 * RabbitMQ crash tests drive their relays the same way:
 *   PUBLISH_DELAY_MS=n    wait up to n ms (random) before each publish
 *   HANG_AFTER_PUBLISH=1  after each acknowledged batch print "ACKED <ids>" and hang before marking it
 *   HANG_CHANCE=p         the same, for a batch with probability p (the test SIGKILLs the process)
 *   BATCH_SIZE=n          the relay's batch size (100)
 */
export function relayCrashHooks<M extends { messageId: string }>(
  inner: PublisherLike<M>,
  env: NodeJS.ProcessEnv = process.env,
): RelayCrashHooks<M> {
  const delay = Number(env.PUBLISH_DELAY_MS ?? 0)
  const hangChance = env.HANG_AFTER_PUBLISH === '1' ? 1 : Number(env.HANG_CHANCE ?? 0)
  return {
    publisher: {
      async publish(messages) {
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * delay))
        await inner.publish(messages)
      },
    },
    afterPublish:
      hangChance > 0
        ? async (messages) => {
            if (Math.random() >= hangChance) return
            process.stdout.write(`ACKED ${messages.map((m) => m.messageId).join(',')}\n`)
            await new Promise(() => undefined)
          }
        : undefined,
    batchSize: Number(env.BATCH_SIZE ?? 100),
  }
}
