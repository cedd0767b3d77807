import type { BenchContext } from '../lib/context.js'

/** Placeholder until @annals/core lands: reports its figures as n/a. */
export async function run(ctx: BenchContext): Promise<void> {
  for (const id of ['load.1k', 'load.100k.snap', 'timetravel.p50', 'timetravel.p99'])
    ctx.skip(id, 'annals', '@annals/core has not landed yet')
}
