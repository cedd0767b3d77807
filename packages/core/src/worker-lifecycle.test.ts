import { afterEach, describe, expect, it } from 'vitest'
import { createWorkerLifecycle, type WorkerLifecycleHooks } from './worker-lifecycle.js'

class AlreadyStarted extends Error {}

/** A lifecycle whose hooks count their calls; `gate` holds onStop (or onStart) open until released. */
function worker(overrides: Partial<WorkerLifecycleHooks> = {}) {
  const counts = { start: 0, stop: 0 }
  const lifecycle = createWorkerLifecycle({
    alreadyStarted: () => new AlreadyStarted('already started'),
    onStart: () => {
      counts.start++
    },
    onStop: () => {
      counts.stop++
    },
    ...overrides,
  })
  return { lifecycle, counts }
}

function gate() {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

/** Settles after every pending promise callback has run. */
const flush = () => new Promise((resolve) => setImmediate(resolve))

const signals = () => [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]
const before = signals()

afterEach(() => {
  // A failing test must not leave a handler behind that swallows the runner's own signals.
  expect(signals()).toEqual(before)
})

describe('createWorkerLifecycle', () => {
  it('runs onStart once per start and throws the given error on a second start', async () => {
    const { lifecycle, counts } = worker()
    expect(lifecycle.running).toBe(false)
    await lifecycle.start()
    expect(lifecycle.running).toBe(true)
    await expect(lifecycle.start()).rejects.toBeInstanceOf(AlreadyStarted)
    expect(counts.start).toBe(1)
    await lifecycle.stop()
  })

  it('refuses a start while onStart is still running', async () => {
    const held = gate()
    const { lifecycle } = worker({ onStart: () => held.opened })
    const first = lifecycle.start()
    await expect(lifecycle.start()).rejects.toBeInstanceOf(AlreadyStarted)
    held.open()
    await first
    await lifecycle.stop()
  })

  it('makes stop idempotent: before any start, twice in a row, and after it finished', async () => {
    const { lifecycle, counts } = worker()
    await lifecycle.stop()
    expect(counts.stop).toBe(0)
    await lifecycle.start()
    await lifecycle.stop()
    await lifecycle.stop()
    expect(counts.stop).toBe(1)
    expect(lifecycle.running).toBe(false)
  })

  it('runs onStop once for concurrent stops, which all resolve when it has finished', async () => {
    const held = gate()
    const { lifecycle, counts } = worker({
      onStop: async () => {
        counts.stop++
        await held.opened
      },
    })
    await lifecycle.start()
    const settled: number[] = []
    const stops = [lifecycle.stop(), lifecycle.stop(), lifecycle.stop()].map((p, i) => p.then(() => settled.push(i)))
    await flush()
    expect(lifecycle.stopping).toBe(true)
    expect(lifecycle.running).toBe(true)
    expect(settled).toEqual([])
    held.open()
    await Promise.all(stops)
    expect(counts.stop).toBe(1)
    expect(settled).toHaveLength(3)
    expect(lifecycle.running).toBe(false)
  })

  it('resolves whenStopped only after onStop finished, once per run', async () => {
    const held = gate()
    const { lifecycle } = worker({ onStop: () => held.opened })
    await expect(lifecycle.whenStopped()).resolves.toBeUndefined()
    await lifecycle.start()
    let stopped = false
    void lifecycle.whenStopped().then(() => {
      stopped = true
    })
    await flush()
    expect(stopped).toBe(false)
    const stopping = lifecycle.stop()
    await flush()
    expect(stopped).toBe(false)
    held.open()
    await stopping
    await flush()
    expect(stopped).toBe(true)

    await lifecycle.start()
    let again = false
    void lifecycle.whenStopped().then(() => {
      again = true
    })
    await flush()
    expect(again).toBe(false)
    await lifecycle.stop()
    await flush()
    expect(again).toBe(true)
  })

  it('can start again after a stop, with stopping reset', async () => {
    const { lifecycle, counts } = worker()
    await lifecycle.start()
    await lifecycle.stop()
    expect(lifecycle.stopping).toBe(true)
    await lifecycle.start()
    expect(lifecycle.stopping).toBe(false)
    expect(lifecycle.running).toBe(true)
    await lifecycle.stop()
    expect(counts).toEqual({ start: 2, stop: 2 })
  })

  it('lets a stop during onStart wait for it before running onStop', async () => {
    const held = gate()
    const order: string[] = []
    const { lifecycle } = worker({
      onStart: async () => {
        await held.opened
        order.push('started')
      },
      onStop: () => {
        order.push('stopped')
      },
    })
    const starting = lifecycle.start()
    const stopping = lifecycle.stop()
    await flush()
    expect(lifecycle.stopping).toBe(true)
    expect(order).toEqual([])
    held.open()
    await Promise.all([starting, stopping])
    expect(order).toEqual(['started', 'stopped'])
    expect(lifecycle.running).toBe(false)
  })

  it('rejects start with onStart’s error, ends the run, and has nothing left to stop', async () => {
    const { lifecycle, counts } = worker({
      handleSignals: true,
      onStart: () => {
        throw new Error('cannot connect')
      },
    })
    await expect(lifecycle.start()).rejects.toThrow('cannot connect')
    expect(lifecycle.running).toBe(false)
    expect(signals()).toEqual(before)
    await expect(lifecycle.whenStopped()).resolves.toBeUndefined()
    await lifecycle.stop()
    expect(counts.stop).toBe(0)
  })

  it('skips onStop when a stop waited for a start that failed', async () => {
    const held = gate()
    const { lifecycle, counts } = worker({
      onStart: async () => {
        await held.opened
        throw new Error('boom')
      },
    })
    const starting = lifecycle.start()
    const stopping = lifecycle.stop()
    held.open()
    await expect(starting).rejects.toThrow('boom')
    await stopping
    expect(counts.stop).toBe(0)
    expect(lifecycle.running).toBe(false)
  })

  it('passes onStop’s error to every stop caller and still ends the run', async () => {
    const { lifecycle } = worker({
      onStop: () => {
        throw new Error('flush failed')
      },
    })
    await lifecycle.start()
    await expect(Promise.all([lifecycle.stop(), lifecycle.stop()])).rejects.toThrow('flush failed')
    expect(lifecycle.running).toBe(false)
    await expect(lifecycle.whenStopped()).resolves.toBeUndefined()
  })

  it('installs SIGTERM and SIGINT handlers only while running with handleSignals', async () => {
    const plain = worker()
    await plain.lifecycle.start()
    expect(signals()).toEqual(before)
    await plain.lifecycle.stop()

    const { lifecycle } = worker({ handleSignals: true })
    expect(signals()).toEqual(before)
    await lifecycle.start()
    expect(signals()).toEqual(before.map((n) => n + 1))
    await lifecycle.stop()
    expect(signals()).toEqual(before)
    await lifecycle.start()
    expect(signals()).toEqual(before.map((n) => n + 1))
    await lifecycle.stop()
    expect(signals()).toEqual(before)
  })

  it.each(['SIGTERM', 'SIGINT'] as const)('stops gracefully on %s and removes both handlers', async (signal) => {
    const { lifecycle, counts } = worker({ handleSignals: true })
    await lifecycle.start()
    process.emit(signal)
    await lifecycle.whenStopped()
    expect(counts.stop).toBe(1)
    expect(lifecycle.running).toBe(false)
    expect(signals()).toEqual(before)
  })
})
