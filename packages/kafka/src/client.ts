// Small helpers around the Kafka client's errors and shutdown, shared by the publisher, consumer and admin.

/** The message of an error and of its aggregated causes (the client reports per-broker errors that way).
 * @internal
 */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const inner = (error as { errors?: unknown[] }).errors
  if (Array.isArray(inner) && inner.length > 0) return `${error.message} (${inner.map(describe).join('; ')})`
  return error.message
}

/** Closes a client without waiting for in-flight requests and without throwing (after a failure).
 * @internal
 */
export function closeNow(client: {
  close(force: boolean, callback: (error?: Error | null) => void): void
}): Promise<void> {
  return new Promise((resolve) => {
    try {
      client.close(true, () => resolve())
    } catch {
      resolve()
    }
  })
}
