import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import AnswerFeedback from '@/components/AnswerFeedback.vue'
import BranchArrows from '@/components/BranchArrows.vue'

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
})
