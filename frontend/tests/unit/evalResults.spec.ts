import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import EvalResults from '@/components/EvalResults.vue'

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
let answer: () => Response

beforeEach(() => {
  setActivePinia(createPinia())
  vi.stubGlobal('fetch', async () => answer())
})
afterEach(() => vi.unstubAllGlobals())

const row = (model: string, status: string, rate: number | null) => ({
  id: model, model, suite_version: '1', status, retrieval: true, repair: true, tasks: 34,
  valid_calls: rate, right_tool: rate, right_args: rate, task_success: rate, tokens: 10, seconds: 12.4,
  error: null, created_at: '2026-11-29T00:00:00Z', finished_at: null,
})

describe('EvalResults', () => {
  it('lists each model with its rates as percentages, and charts the finished ones', async () => {
    answer = () => json({ data: [row('smollm2-135m', 'succeeded', 0.5), row('qwen', 'running', null)], count: 2 })
    const wrapper = mount(EvalResults, { global: { stubs: { EvalResultsChart: { props: ['rows'], template: '<div data-testid="chart">{{ rows.length }}</div>' } } } })
    await flushPromises()
    const rows = wrapper.findAll('[data-testid="eval-row"]')
    expect(rows).toHaveLength(2)
    expect(rows[0]!.text()).toContain('smollm2-135m')
    expect(rows[0]!.text()).toContain('50%')
    expect(rows[1]!.text()).toContain('running')
    expect(rows[1]!.text()).toContain('–')
  })

  it('says so when nothing was evaluated, and when the list cannot load', async () => {
    answer = () => json({ data: [], count: 0 })
    const empty = mount(EvalResults)
    await flushPromises()
    expect(empty.text()).toContain('No model has been evaluated yet')
    answer = () => json({ detail: 'boom' }, 500)
    const broken = mount(EvalResults)
    await flushPromises()
    expect(broken.find('[role="alert"]').text()).toContain('Could not load')
  })
})
