// The bank demo page: pick an account, see its balance over time, drag through history.
// Plain ES module, no build step; the chart is drawn as SVG by hand.

const SVG = 'http://www.w3.org/2000/svg'
const $ = (selector) => document.querySelector(selector)

const state = { accountId: null, summary: null, history: null, range: null, pending: 0 }

async function getJson(url) {
  const response = await fetch(url, { headers: { accept: 'application/json' } })
  if (!response.ok) throw new Error(`${url}: ${response.status}`)
  return response.json()
}

function money(minor, currency) {
  const value = (minor / 100).toLocaleString('en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
  return currency ? `${value} ${currency}` : value
}

const fmtTime = (ms) =>
  new Date(ms).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }) + ' UTC'

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name)
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value))
  if (text !== undefined) node.textContent = text
  return node
}

async function loadAccounts() {
  const { accounts } = await getJson('/accounts')
  const select = $('#account-select')
  const previous = select.value
  select.replaceChildren(
    ...accounts.map((a) => {
      const option = document.createElement('option')
      option.value = a.accountId
      option.textContent = `${a.owner} — ${a.currency} (${a.accountId.slice(0, 8)})`
      return option
    }),
  )
  if (previous && accounts.some((a) => a.accountId === previous)) select.value = previous
  return accounts
}

async function selectAccount(accountId) {
  state.accountId = accountId
  const [summary, history] = await Promise.all([
    getJson(`/accounts/${accountId}`),
    getJson(`/accounts/${accountId}/history`),
  ])
  if (state.accountId !== accountId) return
  state.summary = summary
  state.history = history
  const first = Date.parse(history.entries[0].recordedAt)
  const last = Math.max(Date.now(), Date.parse(history.entries[history.entries.length - 1].recordedAt))
  state.range = { from: first, to: last }
  renderSummary()
  renderEvents()
  renderChart()
  const slider = $('#time-slider')
  slider.value = slider.max
  await showBalanceAt(state.range.to)
  document.body.dataset.ready = 'true'
}

function renderSummary() {
  const s = state.summary
  $('#current-balance').textContent = money(s.balance, s.currency)
  $('#status').textContent = s.status
  $('#tx-count').textContent = String(s.transactions)
}

function renderEvents() {
  const { entries, currency } = state.history
  const rows = [...entries].reverse().map((e) => {
    const tr = document.createElement('tr')
    tr.dataset.version = e.version
    tr.dataset.time = String(Date.parse(e.recordedAt))
    const cells = [
      e.version,
      fmtTime(Date.parse(e.recordedAt)),
      e.type,
      e.change === 0 ? '' : (e.change > 0 ? '+' : '') + money(e.change),
      money(e.balance, currency),
      e.description ?? '',
    ]
    cells.forEach((text, i) => {
      const td = document.createElement('td')
      td.textContent = text
      if (i === 3 || i === 4) td.className = 'num'
      if (i === 3 && e.change !== 0) td.classList.add(e.change > 0 ? 'pos' : 'neg')
      tr.append(td)
    })
    return tr
  })
  $('#events tbody').replaceChildren(...rows)
}

function chartGeometry() {
  const width = 1000
  const height = 280
  const pad = { left: 70, right: 16, top: 12, bottom: 28 }
  const { entries } = state.history
  const balances = entries.map((e) => e.balance)
  const min = Math.min(0, ...balances)
  const max = Math.max(1, ...balances)
  const { from, to } = state.range
  const x = (t) => pad.left + ((t - from) / Math.max(1, to - from)) * (width - pad.left - pad.right)
  const y = (b) => pad.top + (1 - (b - min) / (max - min)) * (height - pad.top - pad.bottom)
  return { width, height, pad, min, max, x, y }
}

function renderChart() {
  const g = chartGeometry()
  const { entries } = state.history
  const svg = el('svg', { viewBox: `0 0 ${g.width} ${g.height}`, preserveAspectRatio: 'none', id: 'balance-chart' })
  for (let i = 0; i <= 4; i++) {
    const value = g.min + ((g.max - g.min) * i) / 4
    const yy = g.y(value)
    svg.append(el('line', { class: 'grid', x1: g.pad.left, x2: g.width - g.pad.right, y1: yy, y2: yy }))
    const label = el('text', { x: g.pad.left - 8, y: yy + 4, 'text-anchor': 'end' }, money(value))
    const axis = el('g', { class: 'axis' })
    axis.append(label)
    svg.append(axis)
  }
  const zero = g.y(0)
  svg.append(el('line', { class: 'zero', x1: g.pad.left, x2: g.width - g.pad.right, y1: zero, y2: zero }))
  // A step line: the balance holds until the next event changes it.
  let d = ''
  let previous = null
  for (const e of entries) {
    const xx = g.x(Date.parse(e.recordedAt))
    const yy = g.y(e.balance)
    d += previous === null ? `M${xx},${yy}` : `H${xx}V${yy}`
    previous = yy
  }
  d += `H${g.x(state.range.to)}`
  const area = `${d}V${zero}H${g.x(Date.parse(entries[0].recordedAt))}Z`
  svg.append(el('path', { class: 'area', d: area }))
  svg.append(el('path', { class: 'line', id: 'balance-line', d }))
  for (const e of entries) {
    svg.append(el('circle', { class: 'dot', cx: g.x(Date.parse(e.recordedAt)), cy: g.y(e.balance), r: 3 }))
  }
  const axis = el('g', { class: 'axis' })
  for (let i = 0; i <= 4; i++) {
    const t = state.range.from + ((state.range.to - state.range.from) * i) / 4
    const anchor = i === 0 ? 'start' : i === 4 ? 'end' : 'middle'
    const label = new Date(t).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' })
    axis.append(el('text', { x: g.x(t), y: g.height - 8, 'text-anchor': anchor }, label))
  }
  svg.append(axis)
  svg.append(el('line', { class: 'cursor', id: 'cursor', x1: 0, x2: 0, y1: g.pad.top, y2: g.height - g.pad.bottom }))
  svg.append(el('circle', { class: 'cursor-dot', id: 'cursor-dot', cx: 0, cy: 0, r: 5 }))
  $('#chart').replaceChildren(svg)
}

function sliderTime() {
  const slider = $('#time-slider')
  const { from, to } = state.range
  return Math.round(from + ((to - from) * Number(slider.value)) / Number(slider.max))
}

async function showBalanceAt(ms) {
  const ticket = ++state.pending
  const at = new Date(ms).toISOString()
  $('#slider-time').textContent = fmtTime(ms)
  $('#slider-time').setAttribute('datetime', at)
  // The time travel endpoint folds the event store from the nearest snapshot up to `at`.
  const result = await getJson(`/accounts/${state.accountId}/balance?at=${encodeURIComponent(at)}`)
  if (ticket !== state.pending) return
  $('#balance-at').textContent = result.status === 'none' ? 'not opened yet' : money(result.balance, result.currency)
  $('#balance-at').dataset.balance = String(result.balance)
  $('#balance-at-meta').textContent =
    `version ${result.version}` +
    (result.snapshotVersion
      ? `, from snapshot v${result.snapshotVersion} + ${result.eventsFolded} events`
      : `, ${result.eventsFolded} events folded`)
  const g = chartGeometry()
  const xx = g.x(ms)
  $('#cursor').setAttribute('x1', xx)
  $('#cursor').setAttribute('x2', xx)
  $('#cursor-dot').setAttribute('cx', xx)
  $('#cursor-dot').setAttribute('cy', g.y(result.balance))
  for (const row of document.querySelectorAll('#events tbody tr')) {
    row.classList.toggle('active', row.dataset.version === result.version)
  }
}

let sliderTimer = null
function onSlide() {
  clearTimeout(sliderTimer)
  sliderTimer = setTimeout(() => {
    showBalanceAt(sliderTime()).catch(showError)
  }, 60)
}

function showError(error) {
  $('#balance-at-meta').textContent = String(error.message ?? error)
}

async function refresh() {
  if (!state.accountId) return
  // The summary comes from the read model, which may trail the event store by a moment: keep polling it.
  const accountId = state.accountId
  const summary = await getJson(`/accounts/${accountId}`)
  if (state.accountId === accountId) {
    state.summary = summary
    renderSummary()
  }
  const history = await getJson(`/accounts/${state.accountId}/history`)
  if (history.entries.length === state.history?.entries.length) return
  const slider = $('#time-slider')
  const atEnd = slider.value === slider.max
  await selectAccount(state.accountId)
  if (!atEnd) onSlide()
}

async function main() {
  // A 503 still describes the bank, and says which dependency is failing.
  const health = await (await fetch('/health', { headers: { accept: 'application/json' } })).json()
  const failing = Object.entries(health.checks ?? {})
    .filter(([, check]) => check.status !== 'ok')
    .map(([name, check]) => `${name}: ${check.reason}`)
  $('#mode').textContent =
    `mode: ${health.mode} · read model: ${health.readModel} · search: ${health.search}` +
    (failing.length > 0 ? ` · failing: ${failing.join('; ')}` : '')
  const accounts = await loadAccounts()
  $('#account-select').addEventListener('change', (event) => selectAccount(event.target.value).catch(showError))
  $('#time-slider').addEventListener('input', onSlide)
  const wanted = new URLSearchParams(location.search).get('account')
  const first = accounts.find((a) => a.accountId === wanted) ?? accounts[0]
  if (first) {
    $('#account-select').value = first.accountId
    await selectAccount(first.accountId)
  }
  // New events (a transfer made through the API) appear without a reload.
  setInterval(() => {
    loadAccounts()
      .then(refresh)
      .catch(() => undefined)
  }, 1000)
}

main().catch(showError)
