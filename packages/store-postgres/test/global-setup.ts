import type { TestProject } from 'vitest/node'
import { startThrowawayPostgres } from '../src/testing/throwaway-postgres.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of a private PostgreSQL cluster for tests that read the global log. */
    annalsPrivatePgUrl: string
  }
}

// Reading the global log waits for the oldest transaction on the whole server. On the shared server
// other engineers' long transactions would stall these readers, so tests that wait for the log to
// catch up use a private cluster (still one database per test file).
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startThrowawayPostgres()
  project.provide('annalsPrivatePgUrl', server.connectionString)
  return () => server.stop()
}
