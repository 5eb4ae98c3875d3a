/**
 * Focus handling for a modal dialog: while `active`, focus moves into `container` (its
 * first focusable element, or the container itself), Tab and Shift+Tab cycle inside it,
 * Escape calls `onEscape`; once it closes, focus goes back to where it was before.
 */
import { nextTick, onBeforeUnmount, watch, type Ref } from 'vue'

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])'

export function focusableIn(container: HTMLElement): HTMLElement[] {
  return Array.from(container.querySelectorAll<HTMLElement>(FOCUSABLE)).filter((el) => !el.closest('[hidden], [inert]'))
}

export function useFocusTrap(container: Ref<HTMLElement | null>, active: Ref<boolean>, onEscape: () => void): void {
  let before: HTMLElement | null = null

  function onKeydown(event: KeyboardEvent): void {
    const box = container.value
    if (!box) return
    if (event.key === 'Escape') {
      event.preventDefault()
      event.stopPropagation()
      onEscape()
      return
    }
    if (event.key !== 'Tab') return
    const items = focusableIn(box)
    if (!items.length) {
      event.preventDefault()
      box.focus()
      return
    }
    const first = items[0]!
    const last = items[items.length - 1]!
    const current = document.activeElement
    if (event.shiftKey && (current === first || !box.contains(current))) {
      event.preventDefault()
      last.focus()
    } else if (!event.shiftKey && (current === last || !box.contains(current))) {
      event.preventDefault()
      first.focus()
    }
  }

  function release(): void {
    document.removeEventListener('keydown', onKeydown, true)
    const target = before
    before = null
    if (target && document.contains(target)) target.focus()
  }

  watch(
    active,
    async (open) => {
      if (!open) return release()
      before = document.activeElement instanceof HTMLElement ? document.activeElement : null
      document.addEventListener('keydown', onKeydown, true)
      await nextTick()
      const box = container.value
      if (box) (focusableIn(box)[0] ?? box).focus()
    },
    { immediate: true },
  )
  onBeforeUnmount(release)
}
