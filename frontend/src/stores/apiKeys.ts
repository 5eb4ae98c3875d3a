/** The signed-in user's API keys: list, create (the secret is held until dismissed), revoke. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage, type Schemas } from '@/api/client'
import { t } from '@/i18n'

export type ApiKey = Schemas['ApiKeyOut']
export type CreatedApiKey = Schemas['ApiKeyCreated']

export const useApiKeysStore = defineStore('apiKeys', () => {
  const items = ref<ApiKey[]>([])
  const error = ref<string | null>(null)
  /** The key just created: its secret is shown this once, then forgotten. */
  const created = ref<CreatedApiKey | null>(null)

  async function load(): Promise<void> {
    const { data, error: failure } = await api.GET('/api/v1/auth/api-keys')
    if (!data) {
      error.value = errorMessage(failure, t('failures.loadKeys'))
      return
    }
    error.value = null
    items.value = data.data
  }

  async function create(name: string, expiresDays: number | null): Promise<boolean> {
    const { data, error: failure } = await api.POST('/api/v1/auth/api-keys', {
      body: { name, expires_days: expiresDays },
    })
    if (!data) {
      error.value = errorMessage(failure, t('failures.createKey'))
      return false
    }
    error.value = null
    created.value = data
    const { key: _secret, ...shown } = data
    items.value = [shown, ...items.value]
    return true
  }

  async function revoke(id: string): Promise<void> {
    const { response, error: failure } = await api.DELETE('/api/v1/auth/api-keys/{key_id}', {
      params: { path: { key_id: id } },
    })
    if (!response.ok) {
      error.value = errorMessage(failure, t('failures.revokeKey'))
      return
    }
    error.value = null
    items.value = items.value.filter((k) => k.id !== id)
    if (created.value?.id === id) created.value = null
  }

  function dismiss(): void {
    created.value = null
  }

  return { items, error, created, load, create, revoke, dismiss }
})
