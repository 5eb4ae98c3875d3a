/**
 * Calls `task` now and then every `intervalMs` while the component is mounted and the tab is
 * visible; a hidden tab pauses it, and coming back refreshes at once. Calls never overlap.
 */
import { onMounted, onUnmounted } from 'vue'

export function usePolling(task: () => Promise<void>, intervalMs: number): { refresh: () => Promise<void> } {
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  let stopped = true

  async function tick(): Promise<void> {
    clearTimeout(timer)
    if (stopped || running) return
    running = true
    try {
      await task()
    } finally {
      running = false
      if (!stopped && document.visibilityState !== 'hidden') timer = setTimeout(() => void tick(), intervalMs)
    }
  }

  function onVisibility(): void {
    if (document.visibilityState === 'hidden') clearTimeout(timer)
    else void tick()
  }

  onMounted(() => {
    stopped = false
    document.addEventListener('visibilitychange', onVisibility)
    void tick()
  })
  onUnmounted(() => {
    stopped = true
    clearTimeout(timer)
    document.removeEventListener('visibilitychange', onVisibility)
  })
  return { refresh: tick }
}
