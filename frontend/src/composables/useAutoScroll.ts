/** Keeps a scroll container pinned to the bottom while content grows, unless the user scrolled up. */
import { nextTick, onMounted, onUnmounted, watch, type Ref } from 'vue'

export function useAutoScroll(container: Ref<HTMLElement | null>, source: () => unknown) {
  let pinned = true

  function onScroll(): void {
    const el = container.value
    if (!el) return
    pinned = el.scrollHeight - el.scrollTop - el.clientHeight < 80
  }

  function toBottom(): void {
    const el = container.value
    if (el) el.scrollTop = el.scrollHeight
  }

  function stickToBottom(): void {
    pinned = true
    void nextTick(toBottom)
  }

  // Deep: a streaming answer grows inside the same turn object.
  watch(source, () => pinned && void nextTick(toBottom), { deep: true, flush: 'post' })
  onMounted(() => container.value?.addEventListener('scroll', onScroll, { passive: true }))
  onUnmounted(() => container.value?.removeEventListener('scroll', onScroll))

  return { stickToBottom }
}
