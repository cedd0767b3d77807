import type { BenchContext } from '../lib/context.js'

/** Placeholder until @annals/projections lands: reports its figures as n/a. */
export async function run(ctx: BenchContext): Promise<void> {
  for (const id of ['visible.p50', 'visible.p99']) ctx.skip(id, 'annals', '@annals/projections has not landed yet')
}
