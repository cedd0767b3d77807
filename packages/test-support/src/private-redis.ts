import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import { waitFor } from './wait-for.js'

/** A Redis server of one test file's own, so the file may FLUSHALL it without touching anyone else's keys. */
export type PrivateRedis = Readonly<{
  port: number
  url: string
  /** SIGKILLs the server and waits for it to end. */
  stop(): Promise<void>
}>

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Starts `redis-server` on a free loopback port without persistence (`--save "" --appendonly no`), as
 * the shared test server runs: a FLUSHALL or a restart loses everything, which is the point.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort()
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  )
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const url = `redis://127.0.0.1:${port}`
  try {
    await waitFor(`redis-server on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`)
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => undefined)
      try {
        await probe.connect()
        return (await probe.ping()) === 'PONG'
      } finally {
        probe.disconnect()
      }
    })
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  // A test run that dies before its cleanup must not leave a server behind.
  const onExit = () => child.kill('SIGKILL')
  process.once('exit', onExit)
  return {
    port,
    url,
    async stop() {
      process.removeListener('exit', onExit)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}
