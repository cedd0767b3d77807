import { silentLogger } from '@annals/core'
import { describe, expect, it } from 'vitest'
import type { Lease, LeaseStore } from '../lease.js'
import { defineProjection } from '../projection.js'
import type { ReadModelSink } from '../sink.js'
import { createLeaseKeeper } from './lease-keeper.js'
import { newProjectionWorker } from './projection-worker.js'

const sink = { kind: 'test' } as unknown as ReadModelSink<unknown>

describe('lease keeper', () => {
  it('resolves stop() only once the renewal in flight has landed (it would revive a released lease)', async () => {
    const lease: Lease = { projection: 'p', owner: 'me', token: 1n, expiresAt: new Date() }
    const landed: string[] = []
    let renewing: () => void = () => undefined
    const renewStarted = new Promise<void>((resolve) => {
      renewing = resolve
    })
    const leases = {
      async renew(l: Lease) {
        renewing()
        await new Promise((resolve) => setTimeout(resolve, 100))
        landed.push('renewed')
        return l
      },
    } as unknown as LeaseStore
    const w = newProjectionWorker(defineProjection({ name: 'p', version: 1, handles: ['E'], sink, handlers: {} }))
    w.lease = lease
    const keeper = createLeaseKeeper({ leases, leaseTtlMs: 300, log: silentLogger }, [w])
    keeper.start()
    await renewStarted
    await keeper.stop()
    landed.push('stopped')
    expect(landed).toEqual(['renewed', 'stopped'])
  })
})
