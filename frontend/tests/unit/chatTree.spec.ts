import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import AnswerFeedback from '@/components/AnswerFeedback.vue'
import BranchArrows from '@/components/BranchArrows.vue'
import ChatTurn from '@/components/ChatTurn.vue'
import type { Turn } from '@/stores/chat'

describe('BranchArrows', () => {
  it('shows the position among the versions, oldest first, and moves to the neighbours', async () => {
    const wrapper = mount(BranchArrows, { props: { id: 7, siblingIds: [12, 3] } })
    expect(wrapper.get('[data-testid="branch-position"]').text()).toBe('2 / 3')
    await wrapper.get('[data-testid="branch-previous"]').trigger('click')
    await wrapper.get('[data-testid="branch-next"]').trigger('click')
    expect(wrapper.emitted('switch')).toEqual([[3], [12]])
  })

  it('is absent for a message without other versions, and ends are disabled', () => {
    expect(mount(BranchArrows, { props: { id: 1, siblingIds: [] } }).find('[data-testid="branch-arrows"]').exists()).toBe(false)
    const first = mount(BranchArrows, { props: { id: 1, siblingIds: [5] } })
    expect(first.get('[data-testid="branch-previous"]').attributes('disabled')).toBeDefined()
    expect(first.get('[data-testid="branch-next"]').attributes('disabled')).toBeUndefined()
  })
})

describe('AnswerFeedback', () => {
  it('rates, asks for a comment, and takes the rating back on a second click', async () => {
    const wrapper = mount(AnswerFeedback, { props: { feedback: null } })
    await wrapper.get('[data-testid="thumbs-down"]').trigger('click')
    expect(wrapper.emitted('rate')).toEqual([[{ rating: -1, comment: null }]])
    await wrapper.setProps({ feedback: { rating: -1, comment: null } })
    await wrapper.get('[data-testid="feedback-input"]').setValue('  too vague ')
    await wrapper.get('[data-testid="feedback-form"]').trigger('submit')
    expect(wrapper.emitted('rate')![1]).toEqual([{ rating: -1, comment: 'too vague' }])
    await wrapper.setProps({ feedback: { rating: -1, comment: 'too vague' } })
    expect(wrapper.get('[data-testid="thumbs-down"]').attributes('aria-pressed')).toBe('true')
    await wrapper.get('[data-testid="thumbs-down"]').trigger('click')
    expect(wrapper.emitted('rate')![2]).toEqual([null])
  })

  it('shows which rating was chosen, in its own colour', () => {
    const wrapper = mount(AnswerFeedback, { props: { feedback: { rating: 1, comment: null } } })
    const up = wrapper.get('[data-testid="thumbs-up"]')
    expect(up.attributes('aria-pressed')).toBe('true')
    expect(up.attributes('aria-label')).toBe('Good answer')
    expect(up.classes()).toContain('text-accent-600')
    const down = wrapper.get('[data-testid="thumbs-down"]')
    expect(down.attributes('aria-pressed')).toBe('false')
    expect(down.classes()).not.toContain('text-red-600')
  })
})

describe('ChatTurn actions', () => {
  const base = { createdAt: '2026-11-29T00:00:00Z', run: null, id: 5, parentId: 4, siblingIds: [] }

  it('edits a question in place and regenerates an answer, each from a labelled button', async () => {
    const question: Turn = { ...base, key: 'q', role: 'user', content: 'What is 2 + 2?' }
    const asked = mount(ChatTurn, { props: { turn: question, actions: true } })
    const edit = asked.get('[data-testid="edit-message"]')
    expect([edit.attributes('aria-label'), edit.attributes('title'), edit.attributes('type')]).toEqual(['Edit and resend', 'Edit and resend', 'button'])
    await edit.trigger('click')
    expect((asked.get('[data-testid="edit-input"]').element as HTMLTextAreaElement).value).toBe('What is 2 + 2?')

    const answer: Turn = { ...base, key: 'a', role: 'assistant', content: '4' }
    const answered = mount(ChatTurn, { props: { turn: answer, actions: true } })
    const again = answered.get('[data-testid="regenerate"]')
    expect(again.attributes('aria-label')).toBe('Regenerate')
    await again.trigger('click')
    expect(answered.emitted('regenerate')).toHaveLength(1)
    expect(mount(ChatTurn, { props: { turn: answer, actions: false } }).find('[data-testid="regenerate"]').exists()).toBe(false)
  })
})
