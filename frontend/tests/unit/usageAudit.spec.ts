import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { setLocale } from '@/i18n'
import { useAuditStore } from '@/stores/audit'
import { useAuthStore } from '@/stores/auth'
import { percentOf, rangeStart, tokensByModel, useUsageStore } from '@/stores/usage'
import UsageView from '@/views/UsageView.vue'

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
let requests: string[] = []
let routes: Record<string, (request: Request) => Response | Promise<Response>> = {}

beforeEach(() => {
  setActivePinia(createPinia())
  requests = []
  routes = {}
  vi.stubGlobal('fetch', async (request: Request) => {
    const url = new URL(request.url)
    requests.push(`${request.method} ${url.pathname}${url.search}`)
    const handler = routes[`${request.method} ${url.pathname}`]
    return handler ? handler(request) : json({ detail: 'Not Found' }, 404)
  })
})
afterEach(() => vi.unstubAllGlobals())

const row = (fields: Record<string, unknown>) => ({ tokens_in: 0, tokens_out: 0, model_seconds: 0, model_calls: 0, runs: 0, tool_calls: 0, ...fields })
const quota = { limits: { tokens_per_day: 1000, runs_per_day: null, concurrent_runs: 2 }, tokens_today: 250, runs_today: 3, active_runs: 2, reset_at: '2026-11-30T00:00:00Z' }

function serveUsage(): void {
  routes['GET /api/v1/usage'] = (request) => {
    const group = new URL(request.url).searchParams.get('group_by')
    if (group === 'user') {
      return json({ data: [row({ user_id: 2, username: 'bob', tokens_in: 5 }), row({ user_id: 3, username: 'carol', tokens_in: 50, tokens_out: 5 })], count: 2, totals: row({}) })
    }
    const data = [row({ day: '2026-11-28', model: 'big', tokens_in: 10, tokens_out: 5 }), row({ day: '2026-11-29', model: 'small', tokens_in: 3, tokens_out: 1 })]
    return json({ from: '2026-10-31', to: '2026-11-29', group_by: ['day', 'model'], data, count: 2, totals: row({ tokens_in: 13, tokens_out: 6, model_calls: 4 }) })
  }
  routes['GET /api/v1/usage/runs'] = () => json({ data: [{ status: 'succeeded', runs: 4 }, { status: 'failed', runs: 1 }], count: 2, total: 5 })
  routes['GET /api/v1/usage/quota'] = () => json(quota)
}

describe('usage figures', () => {
  it('spread day,model rows into one series per model, zero on idle days', () => {
    const { days, series } = tokensByModel([
      row({ day: '2026-11-28', model: 'big', tokens_in: 10, tokens_out: 5 }),
      row({ day: '2026-11-29', model: 'small', tokens_in: 3, tokens_out: 1 }),
      row({ day: '2026-11-29', model: 'big', tokens_in: 1, tokens_out: 1 }),
    ])
    expect(days).toEqual(['2026-11-28', '2026-11-29'])
    expect(series).toEqual([
      { model: 'big', tokens: [15, 2] },
      { model: 'small', tokens: [0, 4] },
    ])
  })

  it('measure a quota as a share of its limit, none without one', () => {
    expect(percentOf(250, 1000)).toBe(25)
    expect(percentOf(5, 2)).toBe(100)
    expect(percentOf(0, 0)).toBe(100)
    expect(percentOf(3, null)).toBeUndefined()
    expect(rangeStart(30, new Date('2026-11-29T23:00:00Z'))).toBe('2026-10-31')
    expect(rangeStart(1, new Date('2026-03-01T00:30:00Z'))).toBe('2026-03-01')
  })
})

describe('usage store', () => {
  it('asks for tokens by day and model, runs by status and the quota; the top users only for admins', async () => {
    serveUsage()
    const usage = useUsageStore()
    await usage.load(false)
    const from = rangeStart(30)
    expect(requests.sort()).toEqual([`GET /api/v1/usage/quota`, `GET /api/v1/usage/runs?from=${from}`, `GET /api/v1/usage?from=${from}&group_by=day%2Cmodel`])
    expect(usage.statuses.map((s) => s.runs)).toEqual([4, 1])
    expect(usage.quota?.tokens_today).toBe(250)
    expect(usage.topUsers).toEqual([])
    await usage.load(true)
    expect(usage.topUsers.map((u) => u.username)).toEqual(['carol', 'bob'])
    expect(usage.error).toBeNull()
  })

  it('says so when a part fails and keeps the rest', async () => {
    serveUsage()
    routes['GET /api/v1/usage/runs'] = () => json({ detail: 'boom' }, 500)
    const usage = useUsageStore()
    await usage.load(false)
    expect(usage.error).toContain('boom')
    expect(usage.byDayModel).toHaveLength(2)
  })
})

describe('usage page', () => {
  it('shows the quota bars, both charts and, for an admin, the top users', async () => {
    serveUsage()
    useAuthStore().user = { id: 1, username: 'root', role: 'admin' } as never
    const stubs = {
      TopBar: { template: '<div><slot /></div>' },
      // chart.js draws on a canvas jsdom lacks: the charts get their data and are shown
      UsageTokensChart: { props: ['rows'], template: '<div data-testid="usage-tokens-chart">{{ rows.length }}</div>' },
      UsageStatusChart: { props: ['counts'], template: '<div data-testid="usage-status-chart">{{ counts.length }}</div>' },
    }
    const wrapper = mount(UsageView, { global: { stubs } })
    await vi.waitFor(async () => {
      await flushPromises()
      expect(wrapper.find('[data-testid="usage-tokens-chart"]').exists()).toBe(true)
      expect(wrapper.find('[data-testid="usage-status-chart"]').exists()).toBe(true)
    })
    expect(wrapper.get('[data-testid="usage-tokens-chart"]').text()).toBe('2')
    expect(wrapper.get('[data-testid="usage-status-chart"]').text()).toBe('2')
    const tokens = wrapper.get('[data-testid="stat-tokens-today"]')
    expect(tokens.get('[role="progressbar"]').attributes('aria-valuenow')).toBe('25')
    expect(wrapper.get('[data-testid="stat-runs-today"]').text()).toContain('of no limit')
    expect(wrapper.get('[data-testid="stat-concurrent-runs"]').get('[role="progressbar"]').attributes('aria-valuenow')).toBe('100')
    expect(wrapper.findAll('[data-testid="usage-user-row"]').map((r) => r.find('td').text())).toEqual(['carol', 'bob'])
    setLocale('fr', false)
    await flushPromises()
    expect(wrapper.get('[data-testid="stat-runs-today"]').text()).toContain('sans limite')
    setLocale('en', false)
  })
})

describe('audit store', () => {
  const entry = (id: string) => ({ id, run_id: null, user_id: 2, tool: 'add', arguments: {}, status: 'ok', decision: 'auto', result: null, duration_ms: 3, created_at: '2026-11-29T01:00:00Z', finished_at: null })

  it('pages through the log with the filters, back to the first page when they change', async () => {
    routes['GET /api/v1/tools/audit'] = () => json({ data: [entry('a')], count: 60 })
    const audit = useAuditStore()
    await audit.load()
    await audit.goTo(3)
    await audit.filter({ tool: ' add ', userId: 2 })
    await audit.goTo(9)
    expect(requests).toEqual([
      'GET /api/v1/tools/audit?limit=25&offset=0',
      'GET /api/v1/tools/audit?limit=25&offset=50',
      'GET /api/v1/tools/audit?limit=25&offset=0&tool=add&user_id=2',
      'GET /api/v1/tools/audit?limit=25&offset=50&tool=add&user_id=2',
    ])
    expect(audit.pages).toBe(3)
    expect(audit.page).toBe(3)
  })

  it('reports a refusal (not an admin) with the server message', async () => {
    routes['GET /api/v1/tools/audit'] = () => json({ detail: 'admins only', code: 'admin_only' }, 403)
    const audit = useAuditStore()
    await audit.load()
    expect(audit.error).toBeTruthy()
    expect(audit.items).toEqual([])
  })
})
