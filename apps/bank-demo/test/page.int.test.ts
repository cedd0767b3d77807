import { mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedBank } from '../src/seed.js'
import { type BankUnderTest, startBank } from './bank-under-test.js'

// The page in headless Chromium (Debian's /usr/bin/chromium, see scripts/ensure-chromium.sh).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

// The committed screenshot is refreshed only on request, so a test run leaves the tree clean.
const SCREENSHOT = process.env.BANK_DEMO_SCREENSHOT
  ? new URL('../docs/bank-demo.png', import.meta.url).pathname
  : join(tmpdir(), `bank-demo-${process.pid}.png`)

describe('the bank page', () => {
  let bank: BankUnderTest
  let browser: Browser
  let page: Page
  let base: string
  let ada: string
  let grace: string

  beforeAll(async () => {
    bank = await startBank('page')
    const seeded = await seedBank(bank.deps, { days: 14, seed: 7 })
    ada = seeded.showcase.accountId
    grace = seeded.accounts[1]?.accountId ?? ''
    await bank.projectionsIdle()
    base = await bank.app.listen({ host: '127.0.0.1', port: 0 })
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
    page = await browser.newPage({ viewport: { width: 1180, height: 1000 } })
    await page.goto(`${base}/?account=${ada}`)
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 })
  })

  afterAll(async () => {
    await browser?.close()
    await bank?.close()
  })

  it('draws the balance chart from the history', async () => {
    const d = await page.getAttribute('#balance-line', 'd')
    const history = (await bank.app.inject({ url: `/accounts/${ada}/history` })).json() as { entries: unknown[] }
    // One vertical step per event: the line follows the history, not a placeholder.
    expect((d ?? '').split('V').length - 1).toBe(history.entries.length - 1)
    expect(await page.locator('#events tbody tr').count()).toBe(history.entries.length)
    expect(await page.textContent('#current-balance')).toMatch(/EUR$/)
  })

  it('shows the time-travel balance for the moment the slider points at', async () => {
    const before = await page.getAttribute('#balance-at', 'data-balance')
    await page.locator('#time-slider').fill('150')
    await page.waitForFunction(
      `document.querySelector('#balance-at')?.getAttribute('data-balance') !== ${JSON.stringify(before)}`,
      undefined,
      { timeout: 10_000 },
    )
    const at = await page.getAttribute('#slider-time', 'datetime')
    const shown = Number(await page.getAttribute('#balance-at', 'data-balance'))
    const api = (await bank.app.inject({ url: `/accounts/${ada}/balance?at=${encodeURIComponent(at ?? '')}` })).json()
    expect(shown).toBe(api.balance)
    expect(shown).not.toBe(Number(before))
  })

  it('shows a transfer made through the API without a reload', async () => {
    const response = await bank.app.inject({
      method: 'POST',
      url: '/transfers',
      payload: { fromAccountId: grace, toAccountId: ada, amount: 1_234, description: 'Page test transfer' },
    })
    expect(response.statusCode).toBe(201)
    await page.locator('#events tbody tr', { hasText: 'Page test transfer' }).first().waitFor({ timeout: 15_000 })
    const current = (await bank.app.inject({ url: `/accounts/${ada}/balance` })).json()
    // The read-model summary catches up with the event store's balance.
    await page.waitForFunction(
      `document.querySelector('#current-balance')?.textContent?.startsWith(${JSON.stringify(
        (current.balance / 100).toLocaleString('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
      )})`,
      undefined,
      { timeout: 15_000 },
    )
    await page.locator('#time-slider').fill('1000')
    await page.waitForTimeout(300)
    await mkdir(new URL('../docs/', import.meta.url), { recursive: true })
    await page.screenshot({ path: SCREENSHOT, fullPage: true })
  })
})
