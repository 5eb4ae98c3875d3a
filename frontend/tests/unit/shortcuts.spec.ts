/** Keyboard shortcuts and the focus in dialogs. */
import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import { defineComponent, h, nextTick, ref } from 'vue'
import ShortcutsDialog from '@/components/ShortcutsDialog.vue'
import { SHORTCUTS, shortcutFor } from '@/lib/shortcuts'

function key(init: KeyboardEventInit, target?: HTMLElement): KeyboardEvent {
  const event = new KeyboardEvent('keydown', { bubbles: true, cancelable: true, ...init })
  if (target) Object.defineProperty(event, 'target', { value: target })
  return event
}

describe('shortcuts', () => {
  it('map the documented keys to their actions', () => {
    expect(shortcutFor(key({ key: 'O', ctrlKey: true, shiftKey: true }))).toBe('newChat')
    expect(shortcutFor(key({ key: 'o', metaKey: true, shiftKey: true }))).toBe('newChat')
    expect(shortcutFor(key({ key: 'Escape', shiftKey: true }))).toBe('focusComposer')
    expect(shortcutFor(key({ key: 'Escape' }))).toBe('stop')
    expect(shortcutFor(key({ key: 'ArrowUp', altKey: true }))).toBe('previousChat')
    expect(shortcutFor(key({ key: 'ArrowDown', altKey: true }))).toBe('nextChat')
    expect(shortcutFor(key({ key: '/', ctrlKey: true }))).toBe('help')
    expect(shortcutFor(key({ key: '?' }, document.body))).toBe('help')
    expect(new Set(SHORTCUTS.map((s) => s.action)).size).toBe(SHORTCUTS.length)
  })

  it('leave typing alone: "?" in a text field is a question mark, plain arrows move the caret', () => {
    expect(shortcutFor(key({ key: '?' }, document.createElement('textarea')))).toBeNull()
    expect(shortcutFor(key({ key: 'ArrowUp' }))).toBeNull()
    expect(shortcutFor(key({ key: 'o', ctrlKey: true }))).toBeNull() // the browser's "open file"
  })
})

describe('the shortcuts dialog', () => {
  it('takes the focus, keeps it inside, closes on Escape and gives the focus back', async () => {
    const Host = defineComponent({
      setup() {
        const open = ref(false)
        return () => [
          h('button', { id: 'opener', onClick: () => (open.value = true) }, 'open'),
          h(ShortcutsDialog, { modelValue: open.value, 'onUpdate:modelValue': (v: boolean) => (open.value = v) }),
        ]
      },
    })
    const wrapper = mount(Host, { attachTo: document.body })
    const opener = document.getElementById('opener')!
    opener.focus()
    opener.click()
    await nextTick()
    await nextTick()
    const dialog = document.querySelector<HTMLElement>('[data-testid="shortcuts-dialog"]')!
    expect(dialog.getAttribute('aria-modal')).toBe('true')
    const close = dialog.querySelector('button')!
    expect(document.activeElement).toBe(close) // the only focusable element
    document.dispatchEvent(key({ key: 'Tab' }))
    expect(document.activeElement).toBe(close) // Tab cannot leave the dialog
    document.dispatchEvent(key({ key: 'Tab', shiftKey: true }))
    expect(document.activeElement).toBe(close)
    expect(dialog.textContent).toContain('Keyboard shortcuts')
    expect(dialog.querySelectorAll('kbd').length).toBeGreaterThan(SHORTCUTS.length)
    document.dispatchEvent(key({ key: 'Escape' }))
    await nextTick()
    await nextTick()
    expect(document.querySelector('[data-testid="shortcuts-dialog"]')).toBeNull()
    expect(document.activeElement).toBe(opener)
    wrapper.unmount()
  })
})
