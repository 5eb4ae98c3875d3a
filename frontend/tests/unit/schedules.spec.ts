import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'
import SchedulesView from '@/views/SchedulesView.vue'

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
let requests: string[] = []
let routes: Record<string, (request: Request) => Response | Promise<Response>> = {}

const schedule = {
  id: 's1',
  name: 'morning report',
  cron: '0 7 * * 1-5',
  timezone: 'Europe/Paris',
  goal: 'write the report',
  agent: 'planner',
  model: null,
  enabled: true,
  misfire: 'run_once',
  next_run_at: '2026-12-01T06:00:00Z',
  last_run_id: 'r2',
  created_at: '2026-11-29T00:00:00Z',
  updated_at: '2026-11-29T00:00:00Z',
}

beforeEach(() => {
  setActivePinia(createPinia())
  requests = []
  routes = {
    'GET /api/v1/schedules': () => json({ data: [schedule], count: 1 }),
    'GET /api/v1/triggers': () => json({ data: [], count: 0 }),
  }
  vi.stubGlobal('fetch', async (request: Request) => {
    const url = new URL(request.url)
    requests.push(`${request.method} ${url.pathname}${url.search}`)
    const handler = routes[`${request.method} ${url.pathname}`]
    return handler ? handler(request) : json({ detail: 'Not Found' }, 404)
  })
})
afterEach(() => vi.unstubAllGlobals())

async function mountView() {
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/runs/:id', name: 'run', component: { template: '<div />' } }, { path: '/:rest(.*)*', component: { template: '<div />' } }] })
  const wrapper = mount(SchedulesView, { global: { plugins: [router], stubs: { TopBar: { template: '<div><slot /></div>' } } } })
  await flushPromises()
  return wrapper
}

describe('Schedules page', () => {
  it('lists each schedule with its next run and links its last runs to the run pages', async () => {
    routes['GET /api/v1/schedules/s1/runs'] = () =>
      json({ data: [{ id: 'r2', status: 'succeeded', created_at: '2026-11-28T06:00:00Z', goal: 'write the report' }, { id: 'r1', status: 'failed', created_at: '2026-11-27T06:00:00Z', goal: 'x' }], count: 2 })
    const wrapper = await mountView()
    const item = wrapper.get('[data-testid="schedule"]')
    expect(item.text()).toContain('morning report')
    expect(item.text()).toContain('0 7 * * 1-5')
    expect(wrapper.get('[data-testid="schedule-next"]').text()).toMatch(/^next run /)
    await wrapper.get('[data-testid="show-runs"]').trigger('click')
    await flushPromises()
    expect(requests).toContain('GET /api/v1/schedules/s1/runs?limit=5')
    const links = wrapper.get('[data-testid="schedule-runs"]').findAll('a')
    expect(links.map((a) => a.attributes('href'))).toEqual(['/runs/r2', '/runs/r1'])
  })

  it('shows the server message when a cron expression is refused', async () => {
    routes['POST /api/v1/schedules'] = () => json({ detail: "invalid cron expression '0 25 * * *': out of range", code: 'invalid_cron' }, 422)
    const wrapper = await mountView()
    await wrapper.get('[data-testid="add-schedule"]').trigger('click')
    await wrapper.get('[data-testid="schedule-name"]').setValue('bad')
    await wrapper.get('[data-testid="schedule-cron"]').setValue('0 25 * * *')
    await wrapper.get('[data-testid="schedule-goal"]').setValue('x')
    await wrapper.get('[data-testid="schedule-form"]').trigger('submit')
    await flushPromises()
    expect(wrapper.get('[data-testid="schedule-error"]').text()).toContain('the cron expression is not valid')
  })

  it('shows a new webhook secret once, and not in the list', async () => {
    routes['POST /api/v1/triggers'] = () =>
      json({ id: 't1', name: 'alerts', agent: 'planner', model: null, goal_template: 'Look: {body}', enabled: true, url: 'http://x/api/v1/hooks/t1', last_run_id: null, created_at: '2026-11-29T00:00:00Z', secret: 'whsec_abc' }, 201)
    const wrapper = await mountView()
    await wrapper.get('[data-testid="add-trigger"]').trigger('click')
    await wrapper.get('[data-testid="trigger-name"]').setValue('alerts')
    await wrapper.get('[data-testid="trigger-template"]').setValue('Look: {body}')
    await wrapper.get('[data-testid="trigger-form"]').trigger('submit')
    await flushPromises()
    expect(wrapper.get('[data-testid="secret-value"]').text()).toBe('whsec_abc')
    expect(wrapper.get('[data-testid="trigger-list"]').text()).not.toContain('whsec_abc')
  })
})
