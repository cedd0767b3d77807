import type { BenchContext } from '../lib/context.js'

/** Placeholder until @annals/store-postgres lands: reports its figures as n/a. */
export async function run(ctx: BenchContext): Promise<void> {
  for (const id of ['log.read']) ctx.skip(id, 'annals', '@annals/store-postgres has not landed yet')
}
