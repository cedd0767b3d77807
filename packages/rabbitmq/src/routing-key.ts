/**
 * The routing key of an event type: its words in lower case, joined by dots, so that topic bindings
 * can select by prefix (`account.*`, `account.#`, `*.deposited`).
 *
 * Words start at each upper-case letter after a lower-case letter or digit, and at the last capital of
 * a run of capitals followed by a lower-case letter (`HTTPRequestFailed` → `http.request.failed`);
 * digits stay with the word before them (`Order2Placed` → `order2.placed`). Any character other than
 * a letter or digit (`.`, `-`, `_`, `:`, space) separates words and is dropped, so an already dotted
 * type keeps its shape (`billing.InvoicePaid` → `billing.invoice.paid`).
 *
 * @example routingKeyOf('AccountDeposited') // 'account.deposited'
 */
export function routingKeyOf(eventType: string): string {
  return eventType
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word.length > 0)
    .map((word) => word.toLowerCase())
    .join('.')
}
