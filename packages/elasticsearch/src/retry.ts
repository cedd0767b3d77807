import { type Backoff, sleep, toBackoff } from '@annals/core/runtime'
import { errors } from '@elastic/elasticsearch'
import { ElasticsearchRequestFailedError } from './errors.js'

/** Backoff for requests the engine may accept a moment later (429, 502-504, transport errors). */
export type EngineRetryOptions = Readonly<{
  /** Attempts in all, the first one included. Default 6. */
  maxAttempts?: number
  /** Default 100 ms; doubles each attempt. */
  initialDelayMs?: number
  /** Default 5 s. */
  maxDelayMs?: number
}>

/** @internal Resolved retry settings: attempts in all, and the delay before retry number `attempt`. */
export type RetryPolicy = Readonly<{ maxAttempts: number; delay: Backoff }>

/**
 * @internal Exponential backoff with jitter on the upper half (core's `'half'`), so workers do not
 * retry in lock-step yet a busy engine always gets some rest.
 */
export function retryPolicy(options: EngineRetryOptions = {}): RetryPolicy {
  const initialDelayMs = Math.max(1, options.initialDelayMs ?? 100)
  const maxDelayMs = Math.max(1, options.maxDelayMs ?? 5000)
  return {
    maxAttempts: Math.max(1, options.maxAttempts ?? 6),
    // A first delay above the cap has always meant "wait the cap": clamp it, as core's backoff
    // rejects initial > max, and pass the cap so core does not raise it to the first delay.
    delay: toBackoff(
      { initialDelayMs: Math.min(initialDelayMs, maxDelayMs), maxDelayMs },
      { initialDelayMs: 100, maxDelayMs: 5000, jitter: 'half' },
    ),
  }
}

/** @internal HTTP statuses worth another try: the engine is busy or a node is briefly away. */
export function isRetryableStatus(status: number | undefined): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504
}

/** @internal The HTTP status of a client error, when it carries one. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof errors.ResponseError ? error.statusCode : undefined
}

/** @internal True for errors a retry may cure: transport failures and busy/unavailable answers. */
export function isRetryableError(error: unknown): boolean {
  if (
    error instanceof errors.ConnectionError ||
    error instanceof errors.TimeoutError ||
    error instanceof errors.NoLivingConnectionsError
  ) {
    return true
  }
  return isRetryableStatus(statusOf(error))
}

/** @internal The engine's own error type and reason from a client error, for messages. */
export function reasonOf(error: unknown): string {
  if (error instanceof errors.ResponseError) {
    const body = error.body as { error?: { type?: string; reason?: string } | string } | undefined
    const e = body?.error
    if (typeof e === 'string') return e
    if (e?.type || e?.reason) return `${e.type ?? 'error'}: ${e.reason ?? ''}`
  }
  return error instanceof Error ? error.message : String(error)
}

/** @internal Runs `request`, retrying retryable failures with backoff; other failures are wrapped and thrown. */
export async function withRetry<T>(operation: string, policy: RetryPolicy, request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request()
    } catch (error) {
      if (!isRetryableError(error) || attempt >= policy.maxAttempts) {
        throw new ElasticsearchRequestFailedError(operation, attempt, statusOf(error), reasonOf(error), {
          cause: error,
        })
      }
      await sleep(policy.delay(attempt))
    }
  }
}
