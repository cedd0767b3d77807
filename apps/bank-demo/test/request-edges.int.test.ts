import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { findUnstorableText } from '@annals/core'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BankUnderTest, startBank } from './bank-under-test.js'
import { expectProblem, openAccount } from './helpers.js'

// Issue 16: bad input at the demo's edge is a 400 (or 413) problem+json naming the field, never a
// 500 and never a reset connection, and nothing is appended.
let bank: BankUnderTest
let accountId: string
let base: string
beforeAll(async () => {
  bank = await startBank('request-edges')
  accountId = await openAccount(bank.app, { owner: 'Target', currency: 'EUR' })
  await bank.app.listen({ port: 0, host: '127.0.0.1' })
  base = `http://127.0.0.1:${(bank.app.server.address() as AddressInfo).port}`
})
afterAll(async () => {
  await bank?.close()
})

const post = (url: string, body: string) =>
  bank.app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': 'application/json' } })

type Streamed = { status: number; contentType: string; body: string } | { error: string }

/**
 * POSTs `chunks` chunks of `size` bytes through a real socket (chunked, no Content-Length: the server
 * learns the size only as it reads), a few milliseconds apart, and reads whatever answer comes.
 */
function streamBody(path: string, chunks: number, size: number, contentLength?: number): Promise<Streamed> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' }
    if (contentLength !== undefined) headers['content-length'] = contentLength
    const req = httpRequest(`${base}${path}`, { method: 'POST', headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body }),
      )
      res.on('error', (error) => resolve({ error: error.message }))
    })
    req.on('error', (error) => resolve({ error: `${(error as NodeJS.ErrnoException).code}: ${error.message}` }))
    let sent = 0
    const chunk = Buffer.alloc(size, 'x')
    req.write('{"amount":5,"description":"')
    const next = () => {
      if (req.destroyed) return
      if (sent++ >= chunks) {
        req.end('"}')
        return
      }
      req.write(chunk, () => setImmediate(next))
    }
    next()
  })
}

describe('text a store cannot keep', () => {
  const cases: readonly [string, string, string][] = [
    ['a lone high surrogate as the owner', '/accounts', '{"owner":"\\ud800","currency":"EUR"}'],
    ['a lone low surrogate inside the owner', '/accounts', '{"owner":"Eve \\udfff","currency":"EUR"}'],
    ['a surrogate in a description', `/accounts/{id}/deposits`, '{"amount":5,"description":"caf\\udbff"}'],
    [
      'a surrogate in a transfer description',
      '/transfers',
      '{"fromAccountId":"{id}","toAccountId":"{id}","amount":5,"description":"\\ud800"}',
    ],
  ]
  const fieldOf = (name: string) => (name.includes('owner') ? 'body.owner' : 'body.description')
  for (const [name, url, body] of cases) {
    it(`${name}: 400 problem+json naming the request's field, nothing appended`, async () => {
      const before = await bank.countEvents()
      const problem = expectProblem(await post(url.replace('{id}', accountId), body.replaceAll('{id}', accountId)), 400)
      expect(problem.errors?.map((e) => e.field)).toEqual([fieldOf(name)])
      expect(problem.errors?.[0]?.message).toContain('lone surrogate')
      expect(await bank.countEvents()).toBe(before)
    })
  }

  it('U+0000 in a query string: 400 naming querystring.q', async () => {
    const problem = expectProblem(await bank.app.inject({ url: '/search/accounts?q=a%00b' }), 400)
    expect(problem.errors?.map((e) => e.field)).toEqual(['querystring.q'])
  })

  it('a lone surrogate in an unknown key: 400 naming the key', async () => {
    const problem = expectProblem(await post('/accounts', '{"owner":"Eve","currency":"EUR","\\ud800":1}'), 400)
    expect(problem.errors?.[0]?.field).toBe('body.\ud800')
  })
})

describe('versions beyond 2^53 through the HTTP API', () => {
  it('round-trips ?version=2^53+1 as a string, exactly', async () => {
    const response = await bank.app.inject({ url: `/accounts/${accountId}/balance?version=9007199254740993` })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.body).toContain('"asOf":{"version":"9007199254740993"}')
    expect(response.json()).toMatchObject({ version: '1', asOf: { version: '9007199254740993' } })
  })

  it('refuses 2^63, -1 and 1.5 as a version with 400 naming querystring.version', async () => {
    for (const version of ['9223372036854775808', '99999999999999999999', '-1', '1.5', '1e3']) {
      const problem = expectProblem(
        await bank.app.inject({ url: `/accounts/${accountId}/balance?version=${version}` }),
        400,
      )
      expect(problem.errors?.map((e) => e.field) ?? [], `${version}: ${problem.detail}`).toContain(
        'querystring.version',
      )
    }
  })
})

describe('an oversized body streamed to a real socket', () => {
  it('gets a readable 413 problem+json, not a reset connection (chunked, no Content-Length)', async () => {
    const before = await bank.countEvents()
    const answer = await streamBody(`/accounts/${accountId}/deposits`, 512, 64 * 1024)
    expect(answer).toMatchObject({ status: 413, contentType: expect.stringMatching(/^application\/problem\+json/) })
    const body = JSON.parse((answer as { body: string }).body) as { status: number; code: string }
    expect(body).toMatchObject({ status: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
    expect(await bank.countEvents()).toBe(before)
  })

  it('gets a readable 413 when the Content-Length it declares is over the limit', async () => {
    const answer = await streamBody(`/accounts/${accountId}/deposits`, 512, 64 * 1024, 512 * 64 * 1024 + 29)
    expect(answer).toMatchObject({ status: 413, contentType: expect.stringMatching(/^application\/problem\+json/) })
  })
})

describe('generated bodies at the write routes (fast-check)', () => {
  // Any code point (lone surrogate halves and U+0000 included), blanks, and strings past the limits.
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom(
      '\ud800',
      'Eve\udfff',
      'a\u0000b',
      '',
      '   ',
      'x'.repeat(600),
      "Robert'); DROP TABLE bank.events;--",
    ),
    fc.string({ maxLength: 20 }),
  )
  const number = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.constantFrom(0, -1, 1.5, 2 ** 53, 2 ** 53 + 2, 1e300, Number.MAX_SAFE_INTEGER),
  )
  const anything = fc.oneof(text, number, fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 2 }))

  /** 201 with the text kept, or a 4xx problem+json naming fields; never a 5xx; events only on success. */
  async function check(url: string, body: Record<string, unknown>, appends: number) {
    const before = await bank.countEvents()
    const response = await post(url, JSON.stringify(body))
    expect(response.statusCode, response.body).toBeLessThan(500)
    if (response.statusCode === 201) {
      expect(await bank.countEvents()).toBe(before + appends)
      return response.json() as Record<string, unknown>
    }
    const problem = expectProblem(response, response.statusCode)
    if (response.statusCode === 400) {
      // Named as the client sent it: a field of the body, the bad string's own field first.
      const fields = problem.errors?.map((e) => e.field) ?? []
      expect(fields.length, response.body).toBeGreaterThan(0)
      for (const field of fields) expect(field, response.body).toMatch(/^body\./)
      const bad = findUnstorableText(body, ['body'])
      if (bad) expect(fields, response.body).toContain(bad.path.join('.'))
    }
    expect(await bank.countEvents()).toBe(before)
    return null
  }

  it('POST /accounts', async () => {
    const body = fc.record(
      { owner: text, currency: fc.oneof(fc.constantFrom('EUR', 'USD'), text), overdraftLimit: number, extra: anything },
      { requiredKeys: ['owner', 'currency'] },
    )
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const opened = await check('/accounts', b, 1)
        if (opened) expect(opened.owner).toBe((b.owner as string).trim())
      }),
      { numRuns: 60 },
    )
  })

  it('POST /accounts/:id/deposits', async () => {
    const body = fc.record({ amount: number, description: text }, { requiredKeys: ['amount'] })
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        await check(`/accounts/${accountId}/deposits`, b, 1)
      }),
      { numRuns: 60 },
    )
  })
})

describe('generated versions at GET /accounts/:id/balance (fast-check)', () => {
  it('any digit string up to 2^63 - 1 is echoed exactly; anything else is a 400 on querystring.version; never a 5xx', async () => {
    const MAX = 2n ** 63n - 1n
    const version = fc.oneof(
      fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String),
      fc.constantFrom('9007199254740993', String(MAX), String(MAX + 1n), '-1', '1.5', '01', '', '1e3', '0x10'),
      fc.string({ maxLength: 8 }),
    )
    await fc.assert(
      fc.asyncProperty(version, async (v) => {
        const response = await bank.app.inject({
          url: `/accounts/${accountId}/balance?version=${encodeURIComponent(v)}`,
        })
        expect(response.statusCode, response.body).toBeLessThan(500)
        if (/^(0|[1-9][0-9]*)$/.test(v) && BigInt(v) <= MAX) {
          expect(response.statusCode, response.body).toBe(200)
          expect((response.json() as { asOf: { version: string } }).asOf.version).toBe(v)
        } else {
          const problem = expectProblem(response, 400)
          expect(problem.errors?.map((e) => e.field) ?? [], response.body).toContain('querystring.version')
        }
      }),
      { numRuns: 200 },
    )
  })
})
