import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import ApprovalCard from '@/components/ApprovalCard.vue'
import PhaseStepper from '@/components/PhaseStepper.vue'
import RunPhaseCard from '@/components/RunPhaseCard.vue'
import RunReport from '@/components/RunReport.vue'
import type { PhaseEntry } from '@/lib/runTimeline'

function entry(phase: PhaseEntry['phase'], output: unknown, status: PhaseEntry['status'] = 'finished'): PhaseEntry {
  return { key: `${phase}-1`, phase, attempt: 1, status, output, steps: [] }
}

describe('PhaseStepper', () => {
  it('shows each phase with its state, a spinner on the active one and the rounds', () => {
    const wrapper = mount(PhaseStepper, {
      props: {
        items: [
          { phase: 'spec', state: 'done', runs: 1 },
          { phase: 'plan', state: 'done', runs: 1 },
          { phase: 'execute', state: 'active', runs: 2 },
          { phase: 'verify', state: 'failed', runs: 1 },
          { phase: 'repair', state: 'done', runs: 1 },
        ],
      },
    })
    const items = wrapper.findAll('li')
    expect(items.map((li) => li.attributes('data-state'))).toEqual(['done', 'done', 'active', 'failed', 'done'])
    expect(items[2]!.find('.animate-spin').exists()).toBe(true)
    expect(items[2]!.text()).toContain('×2')
    expect(wrapper.findAll('.animate-spin')).toHaveLength(1)
  })
})

describe('RunPhaseCard', () => {
  it('lists the acceptance criteria of the spec', () => {
    const wrapper = mount(RunPhaseCard, { props: { entry: entry('spec', { goal: 'Sum it', acceptance_criteria: ['is 3', 'is said'] }), live: false } })
    expect(wrapper.text()).toContain('Sum it')
    expect(wrapper.findAll('li').map((li) => li.text())).toEqual(['is 3', 'is said'])
  })

  it('numbers the steps of a plan and of a repair', () => {
    const wrapper = mount(RunPhaseCard, { props: { entry: entry('repair', { steps: [{ title: 'Fix', instruction: 'say 3' }] }), live: true } })
    expect(wrapper.text()).toContain('Repair plan')
    expect(wrapper.text()).toContain('Fix — say 3')
  })

  it('shows a failed verdict with its failed steps and notes', () => {
    const wrapper = mount(RunPhaseCard, { props: { entry: entry('verify', { passed: false, failed_steps: [2], notes: 'says 4' }), live: true } })
    expect(wrapper.get('[data-testid="verdict"]').attributes('data-passed')).toBe('false')
    expect(wrapper.text()).toContain('Failed steps: 2')
    expect(wrapper.text()).toContain('says 4')
  })

  it('spins while its phase runs and says when the run ended first', () => {
    const running = mount(RunPhaseCard, { props: { entry: entry('plan', undefined, 'started'), live: true } })
    expect(running.find('.animate-spin').exists()).toBe(true)
    expect(running.text()).toContain('in progress')
    const stopped = mount(RunPhaseCard, { props: { entry: entry('plan', undefined, 'started'), live: false } })
    expect(stopped.find('.animate-spin').exists()).toBe(false)
    expect(stopped.text()).toContain('did not finish')
  })
})

describe('RunReport', () => {
  it('renders the report as sanitised Markdown', () => {
    const wrapper = mount(RunReport, { props: { report: { status: 'succeeded', content: '# Done\n\n<img src=x onerror=alert(1)>**ok**', toolsUsed: ['calculate'] } } })
    expect(wrapper.get('h1').text()).toBe('Done')
    expect(wrapper.get('strong').text()).toBe('ok')
    expect(wrapper.find('img').exists()).toBe(false)
    expect(wrapper.text()).toContain('calculate')
  })
})

describe('ApprovalCard', () => {
  it('names the untrusted content that made a call ask for approval', () => {
    const approval = { approvalId: 'a1', tool: 'http_request', params: { url: 'http://x/collect' }, risk: 'network', taintedBy: { tool: 'http_request', source: 'http://127.0.0.1:1234/page' } }
    const wrapper = mount(ApprovalCard, { props: { approval } })
    const note = wrapper.get('[data-testid="approval-taint"]')
    expect(note.text()).toContain('untrusted content')
    expect(note.text()).toContain('http://127.0.0.1:1234/page')
  })

  it('says nothing of taint when the policy alone asks', () => {
    const wrapper = mount(ApprovalCard, { props: { approval: { approvalId: 'a2', tool: 'execute_command', params: {}, risk: 'exec' } } })
    expect(wrapper.find('[data-testid="approval-taint"]').exists()).toBe(false)
  })
})
