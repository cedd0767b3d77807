/** Identifies one event stream (usually one aggregate instance), e.g. `account-42`. */
export type StreamId = string

/** A domain event as application code sees it: a `type` discriminant and its data. */
export type Event<T extends string = string, D = unknown> = Readonly<{ type: T; data: D }>

/**
 * Metadata carried by every stored event. `correlationId` ties together everything caused by one
 * request; `causationId` is the id of the event that directly caused this one (through the command a
 * reaction sent), else the cause the command named (a request id) or the command's own id. Any other
 * keys are the application's own and must be JSON-serialisable.
 */
export type EventMetadata = Readonly<{
  correlationId?: string
  causationId?: string
  [key: string]: unknown
}>

/** An event to append: the event itself plus optional id, schema version and metadata. */
export type NewEvent<E extends Event = Event> = E &
  Readonly<{
    /** A UUID. Generated when absent. Re-sending the same id with the same expected version is a no-op. */
    eventId?: string
    /** The schema version `data` is written in. Defaults to 1 (or the event definition's current version). */
    schemaVersion?: number
    metadata?: EventMetadata
  }>

/** An event to import with its original time (backfills, migrations, seeding). */
export type ImportedEvent<E extends Event = Event> = NewEvent<E> & Readonly<{ recordedAt: Date }>

/**
 * A stored event: the event plus its envelope. `streamVersion` counts from 1 within the stream;
 * `globalPosition` is unique across the store; `transactionId` is the id of the append that wrote it
 * (the global log is ordered by `(transactionId, globalPosition)`, which is commit-safe).
 */
export type RecordedEvent<E extends Event = Event> = E &
  Readonly<{
    eventId: string
    streamId: StreamId
    streamVersion: bigint
    globalPosition: bigint
    transactionId: bigint
    schemaVersion: number
    metadata: EventMetadata
    /** Database time of the append (or the imported time). */
    recordedAt: Date
    /** The event's tenant, when read through a tenant-scoped or all-tenants handle of a multi-tenant store. */
    tenantId?: string
  }>
