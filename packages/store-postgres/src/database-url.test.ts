import { describe, expect, it } from 'vitest'
import { parseDatabaseUrl, redactConnectionString } from './database-url.js'
import { isPgStoreError } from './errors.js'

function refusal(value: string | undefined, variable?: string) {
  try {
    parseDatabaseUrl(value, variable)
  } catch (error) {
    expect(isPgStoreError(error, 'ANNALS_PG_ERR_INVALID_DATABASE_URL')).toBe(true)
    return error as Error & { variable: string; reason: string; url: string }
  }
  throw new Error(`expected ${value} to be refused`)
}

describe('parseDatabaseUrl', () => {
  it('accepts the usual forms and reads their parts', () => {
    expect(parseDatabaseUrl('postgres://postgres@127.0.0.1:5432/annals')).toEqual({
      connectionString: 'postgres://postgres@127.0.0.1:5432/annals',
      redacted: 'postgres://postgres@127.0.0.1:5432/annals',
      host: '127.0.0.1',
      port: 5432,
      database: 'annals',
      user: 'postgres',
    })
    expect(parseDatabaseUrl('postgresql://app:s%40cret@db.internal/app?sslmode=require')).toMatchObject({
      redacted: 'postgresql://app:***@db.internal/app?sslmode=require',
      host: 'db.internal',
      port: null,
      database: 'app',
      user: 'app',
    })
    expect(parseDatabaseUrl('postgres://u@[::1]:6543/x')).toMatchObject({ host: '[::1]', port: 6543 })
    expect(parseDatabaseUrl('postgres:///app?host=/var/run/postgresql')).toMatchObject({ host: '', database: 'app' })
    expect(parseDatabaseUrl('postgres://my_db:5432/x').host).toBe('my_db')
  })

  it('refuses a password with an unencoded "@", naming the variable and hiding the password', () => {
    const error = refusal('postgres://user:p@ss@host/db')
    expect(error.variable).toBe('DATABASE_URL')
    expect(error.url).toBe('postgres://user:***@host/db')
    expect(error.message).toBe(
      'DATABASE_URL is not a valid PostgreSQL URL: the user name or password contains an unencoded "@": percent-encode it (%40) (got postgres://user:***@host/db)',
    )
    expect(error.message).not.toContain('p@ss')
  })

  it('refuses a password holding "/" or "#", which the driver would read as the host', () => {
    expect(refusal('postgres://user:pa/ss@db.example.com/app').reason).toContain(
      'unencoded "/": percent-encode it (%2F)',
    )
    const hash = refusal('postgres://user:pa#ss@db.example.com/app')
    expect(hash.reason).toContain('"#"')
    expect(hash.url).toBe('postgres://user:***@db.example.com/app')
  })

  it('refuses a URL without a scheme, a scheme without "//", and other schemes', () => {
    expect(refusal('localhost:5432/db').reason).toContain('it must start with postgres:// or postgresql://')
    expect(refusal('user:secret@localhost/db').url).toBe('user:***@localhost/db')
    expect(refusal('postgres:/x').reason).toBe(
      '"postgres:" must be followed by "//" (postgres://user:password@host:5432/database)',
    )
    expect(refusal('mysql://u@h/db').reason).toContain('the scheme "mysql:" is not PostgreSQL\'s')
  })

  it('refuses no host, a bad port, a bad host, emptiness and stray spaces', () => {
    expect(refusal('postgres:///db').reason).toContain('it names no host')
    expect(refusal('postgres://h:abc/db').reason).toBe('the port "abc" is not a number from 1 to 65535')
    expect(refusal('postgres://h:70000/db').reason).toContain('"70000"')
    expect(refusal('postgres://ho st/db').reason).toContain('the host "ho st"')
    expect(refusal('', 'PG_URL').message).toBe('PG_URL is not a valid PostgreSQL URL: it is empty')
    expect(refusal(undefined).reason).toBe('it is empty')
    expect(refusal(' postgres://h/db\n').reason).toContain('spaces or a line break')
  })
})

describe('redactConnectionString', () => {
  it('hides the password in the user info and in a password parameter, also in malformed URLs', () => {
    expect(redactConnectionString('postgres://u:secret@h/db')).toBe('postgres://u:***@h/db')
    expect(redactConnectionString('postgres://u@h/db?password=secret&x=1')).toBe('postgres://u@h/db?password=***&x=1')
    expect(redactConnectionString('postgres://u:a@b/c@h/db')).toBe('postgres://u:***@h/db')
    expect(redactConnectionString('redis://:secret@127.0.0.1:6379')).toBe('redis://:***@127.0.0.1:6379')
    expect(redactConnectionString('postgres://u@h/db')).toBe('postgres://u@h/db')
  })
})
