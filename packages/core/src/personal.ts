import { z } from 'zod'
import { isRedacted, markPersonal, type Redacted } from './crypto/redacted.js'

export { isRedacted, REDACTED, type Redacted } from './crypto/redacted.js'

const redacted = z.custom<Redacted>(isRedacted, { message: 'not the redacted marker' })

/**
 * Marks an event field as personal data (zod 4). A crypto-shredding store encrypts it at append with its
 * subject's data key; once the subject is forgotten it loads as {@link REDACTED}, which the returned
 * schema accepts, so the field's type is `T | Redacted` and deciders and projections must handle it.
 * @example
 * const Registered = defineEvent('CustomerRegistered', z.object({ customerId: z.string(), email: personal(z.string()) }))
 */
export function personal<S extends z.ZodType>(schema: S): z.ZodUnion<readonly [z.ZodCustom<Redacted, Redacted>, S]> {
  const field = z.union([redacted, schema])
  markPersonal(field)
  return field
}
