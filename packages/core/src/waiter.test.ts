import { describe, expect, it } from 'vitest'
import { createWaiter } from './waiter.js'

describe('createWaiter', () => {
  it('ends a wait when the time runs out', async () => {
    expect(await createWaiter().wait(5)).toBe(false)
  })

  it('ends a running wait early on wake or interrupt', async () => {
    const waiter = createWaiter()
    const woken = waiter.wait(10_000)
    waiter.wake()
    expect(await woken).toBe(true)
    const interrupted = waiter.wait(10_000)
    waiter.interrupt()
    expect(await interrupted).toBe(true)
  })

  it('keeps a wake with nobody waiting for the next wait, but not an interrupt', async () => {
    const waiter = createWaiter()
    waiter.interrupt()
    expect(await waiter.wait(5)).toBe(false)
    waiter.wake()
    const started = Date.now()
    expect(await waiter.wait(10_000)).toBe(true)
    expect(Date.now() - started).toBeLessThan(1000)
    expect(await waiter.wait(5)).toBe(false)
  })
})
