import { isAnnalsError } from '../errors.js'

/** Awaits `promise`, expecting it to reject with an Annals error of `code`; returns that error. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    if (!isAnnalsError(error, code)) {
      throw new Error(`expected ${code}, got ${String((error as { code?: unknown })?.code ?? error)}`, { cause: error })
    }
    return error
  }
  throw new Error(`expected ${code}, but the call succeeded`)
}
