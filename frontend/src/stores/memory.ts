/** What the agents remember: search by meaning (newest first without a query), add, edit, forget. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { Memory, MemoryCreate, MemoryUpdate } from '@/api/contract'
import { t } from '@/i18n'

const LIMIT = 50

export const useMemoryStore = defineStore('memory', () => {
  const items = ref<Memory[]>([])
  const query = ref('')
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** False when the server has no /memory routes (an older one answers 404): the view says so. */
  const available = ref(true)

  async function load(): Promise<void> {
    loading.value = true
    const q = query.value.trim()
    const { data, error: failure, response } = await api.GET('/api/v1/memory', {
      params: { query: { query: q || undefined, limit: LIMIT } },
    })
    loading.value = false
    if (q !== query.value.trim()) return // a newer search is on its way
    if (!data) {
      available.value = response.status !== 404
      error.value = available.value ? errorMessage(failure, t('failures.loadMemories')) : null
      return
    }
    available.value = true
    error.value = null
    items.value = data.data
  }

  /** Each change throws with the server's message when refused (the form shows it). */
  async function add(body: MemoryCreate): Promise<void> {
    const { data, error: failure } = await api.POST('/api/v1/memory', { body: { source: 'user', ...body } })
    if (!data) throw new Error(errorMessage(failure, t('failures.saveMemory')))
    await load()
  }

  async function update(id: string, body: MemoryUpdate): Promise<void> {
    const { data, error: failure } = await api.PATCH('/api/v1/memory/{memory_id}', {
      params: { path: { memory_id: id } },
      body,
    })
    if (!data) throw new Error(errorMessage(failure, t('failures.changeMemory')))
    const index = items.value.findIndex((m) => m.id === id)
    if (index >= 0) items.value[index] = data
  }

  async function remove(id: string): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/memory/{memory_id}', {
      params: { path: { memory_id: id } },
    })
    if (!response.ok) throw new Error(errorMessage(failure, t('failures.deleteMemory')))
    items.value = items.value.filter((m) => m.id !== id)
  }

  return { items, query, loading, error, available, load, add, update, remove }
})
