/** An error as one line of text for a row or a stream field: `Name: message`, cut at 2000 characters. @internal */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text
}
