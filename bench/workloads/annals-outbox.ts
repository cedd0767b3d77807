import type { BenchContext } from '../lib/context.js'

/** Placeholder until @annals/outbox lands: reports its figures as n/a. */
export async function run(ctx: BenchContext): Promise<void> {
  for (const id of ['outbox.redis']) ctx.skip(id, 'annals', '@annals/outbox has not landed yet')
}
