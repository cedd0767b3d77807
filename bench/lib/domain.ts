import { randomUUID } from 'node:crypto'

/**
 * The events every system stores: small bank-like payloads (~150 bytes of JSON data, two uuids of
 * metadata), the same shape for Annals, the raw driver and the peer.
 */
export type Deposited = Readonly<{
  type: 'Deposited'
  data: Readonly<{ accountId: string; amount: number; currency: string; reference: string }>
}>
export type Withdrawn = Readonly<{
  type: 'Withdrawn'
  data: Readonly<{ accountId: string; amount: number; currency: string; reference: string }>
}>
/** A bench event. */
export type BenchEvent = Deposited | Withdrawn

/** The event number `i` of stream `accountId` (deterministic content, withdrawals every fourth). */
export function makeEvent(accountId: string, i: number): BenchEvent {
  const data = {
    accountId,
    amount: (i % 97) + 1,
    currency: 'EUR',
    reference: `ref-${i.toString(36).padStart(8, '0')}-bench-payload`,
  }
  return i % 4 === 3 ? { type: 'Withdrawn', data } : { type: 'Deposited', data }
}

/** Metadata attached to every bench event. */
export function makeMetadata(): { correlationId: string; causationId: string } {
  return { correlationId: randomUUID(), causationId: randomUUID() }
}

/** What a load folds the stream into. */
export type AccountState = Readonly<{ balance: number; events: number }>

/** The initial state of the fold. */
export function initialState(): AccountState {
  return { balance: 0, events: 0 }
}

/** The fold every system runs on load (identical work, so load figures compare storage only). */
export function evolve(state: AccountState, event: { type: string; data: unknown }): AccountState {
  const amount = (event.data as { amount: number }).amount
  return {
    balance: event.type === 'Withdrawn' ? state.balance - amount : state.balance + amount,
    events: state.events + 1,
  }
}

/** `n` events of one stream starting at event number `from`. */
export function makeEvents(accountId: string, from: number, n: number): BenchEvent[] {
  const out: BenchEvent[] = new Array(n)
  for (let i = 0; i < n; i++) out[i] = makeEvent(accountId, from + i)
  return out
}
