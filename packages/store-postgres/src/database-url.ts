import { PgInvalidDatabaseUrlError } from './errors.js'

/** A PostgreSQL connection URL that {@link parseDatabaseUrl} accepted. */
export type DatabaseUrl = Readonly<{
  /** The URL as given, to pass to `new pg.Pool({ connectionString })`. */
  connectionString: string
  /** The URL with its password replaced by `***`, for logs and messages. */
  redacted: string
  /** Host name or address; empty when a Unix socket is given as `?host=/path`. */
  host: string
  port: number | null
  database: string
  user: string
}>

const SCHEMES = new Set(['postgres:', 'postgresql:'])
const FORM = 'postgres://user:password@host:5432/database'

/**
 * Replaces the password of a connection URL (in the user info and in a `password=` parameter) with
 * `***`. Works on malformed URLs too (a password holding `@`, `/` or `#`), since those are the ones
 * that end up in error messages.
 */
export function redactConnectionString(url: string): string {
  const schemeEnd = url.indexOf('://')
  const start = schemeEnd >= 0 ? schemeEnd + 3 : 0
  const rest = url.slice(start)
  // The last `@` before the query ends the user info: a password may hold `@`, `/`, `?` or `#` unencoded.
  const at = rest.lastIndexOf('@')
  let out = url
  if (at >= 0) {
    const userInfo = rest.slice(0, at)
    const colon = userInfo.indexOf(':')
    if (colon >= 0) out = `${url.slice(0, start)}${userInfo.slice(0, colon)}:***${rest.slice(at)}`
  }
  return out.replace(/([?&]password=)[^&#]*/gi, '$1***')
}

/**
 * Checks a PostgreSQL connection URL before anything connects with it, and throws
 * `ANNALS_PG_ERR_INVALID_DATABASE_URL` naming `variable`, what is wrong and the URL with its password
 * hidden. The driver would otherwise read a password holding `@` or `/` as part of the host and fail
 * later with a DNS error, or take `localhost:5432/db` for a database named `432/db`.
 * @example
 * const { connectionString } = parseDatabaseUrl(process.env.DATABASE_URL, 'DATABASE_URL')
 * const pool = new pg.Pool({ connectionString })
 */
export function parseDatabaseUrl(value: string | undefined, variable = 'DATABASE_URL'): DatabaseUrl {
  const fail = (reason: string): never => {
    throw new PgInvalidDatabaseUrlError(variable, reason, value === undefined ? '' : redactConnectionString(value))
  }
  if (value === undefined || value.trim() === '') return fail('it is empty')
  if (value !== value.trim()) return fail('it has spaces or a line break around it')
  const scheme = /^([a-z][a-z0-9+.-]*:)(\/\/)?/i.exec(value)
  if (!scheme?.[1] || !scheme[2]) {
    if (scheme?.[1] && SCHEMES.has(scheme[1].toLowerCase()) && !scheme[2]) {
      return fail(`"${scheme[1]}" must be followed by "//" (${FORM})`)
    }
    return fail(`it must start with postgres:// or postgresql:// (${FORM})`)
  }
  const protocol = scheme[1].toLowerCase()
  if (!SCHEMES.has(protocol)) return fail(`the scheme "${protocol}" is not PostgreSQL's: use postgres:// (${FORM})`)
  const rest = value.slice(scheme[0].length)
  const queryAt = rest.indexOf('?')
  const beforeQuery = queryAt >= 0 ? rest.slice(0, queryAt) : rest
  const at = beforeQuery.lastIndexOf('@')
  const userInfo = at >= 0 ? beforeQuery.slice(0, at) : ''
  for (const [char, name] of [
    ['@', '"@"'],
    ['/', '"/"'],
    ['#', '"#"'],
  ] as const) {
    if (userInfo.includes(char)) {
      return fail(
        `the user name or password contains an unencoded ${name}: percent-encode it (${encodeURIComponent(char)})`,
      )
    }
  }
  const afterUserInfo = rest.slice(at + 1)
  const authorityEnd = afterUserInfo.search(/[/?#]/)
  const hostPort = authorityEnd >= 0 ? afterUserInfo.slice(0, authorityEnd) : afterUserInfo
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]*)(?::(.*))?$/i.exec(hostPort)
  if (!match) return fail(`the host "${hostPort}" is malformed`)
  const host = match[1] ?? ''
  const portText = match[2]
  if (host !== '' && !/^(\[[0-9a-f:.]+\]|[a-z0-9._%-]+)$/i.test(host)) {
    return fail(`the host "${host}" contains characters a host name cannot have`)
  }
  let port: number | null = null
  if (portText !== undefined && portText !== '') {
    if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65_535) {
      return fail(`the port "${portText}" is not a number from 1 to 65535`)
    }
    port = Number(portText)
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return fail(`it is not a valid URL (${FORM})`)
  }
  const socket = url.searchParams.get('host')
  if (host === '' && !socket) return fail(`it names no host (${FORM}, or ?host=/path/to/socket)`)
  const decode = (text: string, what: string) => {
    try {
      return decodeURIComponent(text)
    } catch {
      return fail(`the ${what} has a malformed percent-encoding`)
    }
  }
  return {
    connectionString: value,
    redacted: redactConnectionString(value),
    host: socket && host === '' ? '' : decode(host, 'host'),
    port,
    database: decode(url.pathname.replace(/^\//, ''), 'database name'),
    user: decode(url.username, 'user name'),
  }
}
