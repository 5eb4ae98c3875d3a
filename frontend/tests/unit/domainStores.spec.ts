import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import AgentForm from '@/components/AgentForm.vue'
import { setLocale } from '@/i18n'
import { formatBytes, formatDuration, timeAgo } from '@/lib/format'
import { useDashboardStore } from '@/stores/dashboard'
import { useMemoryStore } from '@/stores/memory'
import { useRunsStore } from '@/stores/runs'

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

const run = (id: string, status: string, created: string) => ({ id, status, created_at: created, goal: id })

describe('runs store', () => {
  it('asks for one page with the status filter, newest first from the server', async () => {
    routes['GET /api/v1/runs'] = () => json({ data: [run('r1', 'failed', '2026-01-02')], count: 45 })
    const runs = useRunsStore()
    await runs.setStatus('failed')
    await runs.goTo(2)
    expect(requests).toEqual(['GET /api/v1/runs?status=failed&limit=20&offset=0', 'GET /api/v1/runs?status=failed&limit=20&offset=40'])
    expect(runs.pages).toBe(3)
    await runs.goTo(9)
    expect(runs.page).toBe(2)
  })

  it('starts a run and reports a refusal with the server message', async () => {
    routes['POST /api/v1/runs'] = async (request) => {
      const body = (await request.json()) as { agent?: string }
      return body.agent === 'ghost' ? json({ detail: 'agent not found' }, 404) : json(run('r9', 'queued', '2026-01-01'), 201)
    }
    const runs = useRunsStore()
    expect((await runs.create({ goal: 'do it' })).id).toBe('r9')
    await expect(runs.create({ goal: 'do it', agent: 'ghost' })).rejects.toThrow('agent not found')
  })
})

describe('dashboard store', () => {
  it('gathers live runs from every live status, newest first, with the rest', async () => {
    routes['GET /api/v1/runs'] = (request) => {
      const status = new URL(request.url).searchParams.get('status')
      if (status === 'running') return json({ data: [run('a', 'running', '2026-01-01')], count: 1 })
      if (status === 'waiting') return json({ data: [run('b', 'waiting', '2026-01-03')], count: 1 })
      if (status === 'queued') return json({ data: [], count: 0 })
      return json({ data: [run('b', 'waiting', '2026-01-03'), run('a', 'running', '2026-01-01')], count: 2 })
    }
    routes['GET /api/v1/tools'] = () => json({ data: [], count: 0 })
    routes['GET /api/v1/system/stats'] = () => json({ uptime_seconds: 5, system: {}, counts: { runs: 2 } })
    const dashboard = useDashboardStore()
    await dashboard.refresh()
    expect(dashboard.active.map((r) => r.id)).toEqual(['b', 'a'])
    expect(dashboard.recent).toHaveLength(2)
    expect(dashboard.stats?.uptime_seconds).toBe(5)
    expect(dashboard.error).toBeNull()
  })
})

describe('memory store', () => {
  it('says memory is unavailable when the server has no /memory route', async () => {
    const memory = useMemoryStore()
    await memory.load()
    expect(memory.available).toBe(false)
    expect(memory.error).toBeNull()
  })

  it('searches, adds, edits and deletes', async () => {
    const item = { id: 'm1', content: 'staging is on :8443', tags: ['servers'], source: 'user', created_at: '2026-01-01', updated_at: '2026-01-01' }
    routes['GET /api/v1/memory'] = () => json({ data: [item], count: 1 })
    routes['POST /api/v1/memory'] = () => json(item, 201)
    routes['PATCH /api/v1/memory/m1'] = async (request) => json({ ...item, ...((await request.json()) as object) })
    routes['DELETE /api/v1/memory/m1'] = () => new Response(null, { status: 204 })
    const memory = useMemoryStore()
    memory.query = 'which port'
    await memory.load()
    await memory.add({ content: 'staging is on :8443', tags: ['servers'] })
    await memory.update('m1', { content: 'staging is on :9443' })
    expect(memory.items[0]?.content).toBe('staging is on :9443')
    await memory.remove('m1')
    expect(memory.items).toEqual([])
    expect(requests).toEqual([
      'GET /api/v1/memory?query=which%20port&limit=50',
      'POST /api/v1/memory',
      'GET /api/v1/memory?query=which%20port&limit=50',
      'PATCH /api/v1/memory/m1',
      'DELETE /api/v1/memory/m1',
    ])
  })
})

describe('AgentForm', () => {
  it('creates an agent with the chosen tools, or all of them', async () => {
    const tools = [{ name: 'calculate' }, { name: 'read_file' }] as never
    const wrapper = mount(AgentForm, { props: { tools, models: [] } })
    await wrapper.get('input[pattern]').setValue('poet')
    await wrapper.get('textarea').setValue('You are a poet.')
    await wrapper.get('form').trigger('submit')
    expect(wrapper.emitted('create')?.[0]?.[0]).toMatchObject({ name: 'poet', system_prompt: 'You are a poet.', tools: null, mode: 'chat', builtin: false, max_iterations: null })
  })

  it('edits only what an admin may change', async () => {
    const agent = { name: 'poet', description: 'd', system_prompt: 'p', tools: ['calculate'], model: null, max_iterations: 5, mode: 'chat' as const, builtin: false }
    const wrapper = mount(AgentForm, { props: { agent, tools: [{ name: 'calculate' }] as never, models: [] } })
    expect(wrapper.get('input[pattern]').attributes('disabled')).toBeDefined()
    await wrapper.get('form').trigger('submit')
    const [name, changes] = wrapper.emitted('update')![0]!
    expect(name).toBe('poet')
    expect(changes).toEqual({ description: 'd', system_prompt: 'p', mode: 'chat', model: null, max_iterations: 5, tools: ['calculate'], knowledge: [] })
  })

  it('lets an admin pick the knowledge collections the agent searches', async () => {
    routes['GET /api/v1/knowledge'] = () => json({ data: [{ id: 'k1', name: 'Handbook', description: '', created_at: '2026-01-01', document_count: 2 }], count: 1 })
    const wrapper = mount(AgentForm, { props: { tools: [] as never, models: [] } })
    await vi.waitFor(() => expect(wrapper.find('[data-testid="agent-knowledge"]').exists()).toBe(true))
    await wrapper.get('input[pattern]').setValue('librarian')
    await wrapper.get('textarea').setValue('You answer from documents.')
    await wrapper.get('[data-testid="agent-knowledge"] input[type="checkbox"]').setValue(true)
    await wrapper.get('form').trigger('submit')
    expect(wrapper.emitted('create')?.[0]?.[0]).toMatchObject({ name: 'librarian', knowledge: ['k1'] })
  })
})

describe('format', () => {
  it('reads like a person would say it', () => {
    setLocale('en', false)
    expect(formatBytes(1536)).toBe('1.5\u00a0KB')
    expect(formatBytes(25 * 1024 ** 3)).toBe('25\u00a0GB')
    expect(formatDuration(93_784)).toBe('1 d 2 h')
    expect(formatDuration(42)).toBe('42 s')
    expect(timeAgo('2026-01-01T00:00:00Z', Date.parse('2026-01-01T00:10:00Z'))).toBe('10 min. ago')
    expect(timeAgo(null)).toBe('never')
    // The same values in French: decimal comma, octets, days as "j".
    setLocale('fr', false)
    expect(formatBytes(1536)).toBe('1,5\u00a0Ko')
    expect(formatDuration(93_784)).toBe('1 j 2 h')
    expect(timeAgo('2026-01-01T00:00:00Z', Date.parse('2026-01-01T00:10:00Z'))).toMatch(/^il y a 10\smin$/)
    expect(timeAgo(null)).toBe('jamais')
    setLocale('en', false)
  })
})
