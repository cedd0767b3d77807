import type { EventStore, IdempotencyStore, LogWatcher, SnapshotStore } from '@annals/core'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { type AccountService, createAccountService } from './accounts/account-service.js'
import type { HealthCheck } from './health.js'
import { type AppDeps, buildApp } from './http/server.js'
import type { AccountsReadModel, BankSearch } from './read-models/read-model.js'
import { createSagaTransfers } from './transfers/transfer-saga.js'
import type { Transfers } from './transfers/transfers.js'

/** The read side of the bank: read models plus the workers that keep them up to date. */
export type ReadSide = Readonly<{
  accounts: AccountsReadModel
  search: BankSearch
  /** Starts following the log. */
  start(): Promise<void>
  /** Resolves when every read model has caught up with the log as it is now. */
  idle(): Promise<void>
  stop(): Promise<void>
}>

/** The write side on Postgres, built by the caller from @annals/store-postgres (the demo's only link to it). */
export type WriteSide = Readonly<{
  store: EventStore
  snapshots: SnapshotStore
  idempotency: IdempotencyStore
  watcher?: LogWatcher
  describe: string
  /** Health checks of what the write side runs (the outbox relay). */
  health?: readonly HealthCheck[]
  release?: () => Promise<void>
}>

/** What the bank is assembled from: the write-side stores, the read side, and how to release them. */
export type BankParts = Readonly<{
  mode: string
  store: EventStore
  snapshots: SnapshotStore
  idempotency: IdempotencyStore
  readSide: ReadSide
  /** What `GET /health` checks: the servers and workers these parts use. */
  health?: readonly HealthCheck[]
  /** Builds the transfers; default: the @annals/sagas transfer saga. */
  transfers?: (deps: { store: EventStore; accounts: AccountService }) => Transfers
  /** Releases pools and clients, after the read side stopped. */
  release?: () => Promise<void>
}>

/** A fully assembled bank: the app, its dependencies, and its lifecycle. */
export type Bank = Readonly<{
  app: FastifyInstance
  deps: AppDeps
  readSide: ReadSide
  close(): Promise<void>
}>

/** Assembles the bank from its parts (the composition root and the tests both use it). */
export async function assembleBank(
  parts: BankParts,
  options: Readonly<{ logger?: FastifyServerOptions['logger']; bodyLimit?: number; healthTimeoutMs?: number }> = {},
): Promise<Bank> {
  const accounts = createAccountService({ store: parts.store, snapshots: parts.snapshots })
  const transfers = parts.transfers
    ? parts.transfers({ store: parts.store, accounts })
    : createSagaTransfers({ store: parts.store, accounts, snapshots: parts.snapshots, idempotency: parts.idempotency })
  const deps: AppDeps = {
    store: parts.store,
    snapshots: parts.snapshots,
    idempotency: parts.idempotency,
    accounts,
    readModel: parts.readSide.accounts,
    search: parts.readSide.search,
    transfers,
    mode: parts.mode,
    health: parts.health ?? [],
    ...(options.healthTimeoutMs !== undefined ? { healthTimeoutMs: options.healthTimeoutMs } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
  }
  const app = await buildApp(deps)
  let closed = false
  return {
    app,
    deps,
    readSide: parts.readSide,
    async close() {
      if (closed) return
      closed = true
      await app.close()
      await transfers.close()
      await parts.readSide.stop()
      await parts.release?.()
    },
  }
}
