/** The sidebar's list of conversations: load, search, create, rename, delete. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage, type Conversation } from '@/api/client'
import { t } from '@/i18n'

export const useConversationsStore = defineStore('conversations', () => {
  const items = ref<Conversation[]>([])
  const search = ref('')
  const loading = ref(false)
  const error = ref<string | null>(null)
  let latestLoad = 0

  async function load(): Promise<void> {
    const ticket = ++latestLoad
    loading.value = true
    const query = search.value.trim()
    const { data, error: failure } = await api.GET('/api/v1/conversations', {
      params: { query: query ? { query } : {} },
    })
    if (ticket !== latestLoad) return // a newer search answered first
    loading.value = false
    if (!data) {
      error.value = errorMessage(failure, t('failures.loadConversations'))
      return
    }
    error.value = null
    items.value = data.data
  }

  async function create(title?: string, model?: string): Promise<Conversation> {
    const { data, error: failure } = await api.POST('/api/v1/conversations', {
      body: { title: title || undefined, model: model || undefined },
    })
    if (!data) throw new Error(errorMessage(failure, t('failures.createConversation')))
    items.value = [data, ...items.value.filter((c) => c.id !== data.id)]
    return data
  }

  async function rename(id: string, title: string): Promise<void> {
    const { data, error: failure } = await api.PATCH('/api/v1/conversations/{conversation_id}', {
      params: { path: { conversation_id: id } },
      body: { title },
    })
    if (!data) throw new Error(errorMessage(failure, t('failures.renameConversation')))
    upsert(data)
  }

  async function remove(id: string): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/conversations/{conversation_id}', {
      params: { path: { conversation_id: id } },
    })
    if (!response.ok && response.status !== 404) {
      throw new Error(errorMessage(failure, t('failures.deleteConversation')))
    }
    items.value = items.value.filter((c) => c.id !== id)
  }

  function upsert(conversation: Conversation): void {
    const rest = items.value.filter((c) => c.id !== conversation.id)
    const index = items.value.findIndex((c) => c.id === conversation.id)
    if (index < 0) items.value = [conversation, ...rest]
    else items.value = items.value.map((c) => (c.id === conversation.id ? conversation : c))
  }

  /** Moves a conversation to the top after activity, refetching it when unknown. */
  async function touch(id: string): Promise<void> {
    const { data } = await api.GET('/api/v1/conversations/{conversation_id}', {
      params: { path: { conversation_id: id } },
    })
    if (data) items.value = [data, ...items.value.filter((c) => c.id !== id)]
  }

  function reset(): void {
    items.value = []
    search.value = ''
  }

  return { items, search, loading, error, load, create, rename, remove, touch, reset }
})
