import type { BenchContext } from '../lib/context.js'

/** Placeholder until @annals/store-postgres lands: reports its figures as n/a. */
export async function run(ctx: BenchContext): Promise<void> {
  for (const id of ['append.1.seq', 'append.1.c16', 'append.100.seq', 'append.hot.8'])
    ctx.skip(id, 'annals', '@annals/store-postgres has not landed yet')
}
