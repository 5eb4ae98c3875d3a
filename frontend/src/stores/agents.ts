/** The agents registry; admins add, change and remove custom agents (built-ins are read-only). */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { AgentInfo, AgentUpdate } from '@/api/contract'
import { useSettingsStore } from './settings'
import { t } from '@/i18n'

export const useAgentsStore = defineStore('agents', () => {
  const items = ref<AgentInfo[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)

  async function load(): Promise<void> {
    loading.value = true
    const { data, error: failure } = await api.GET('/api/v1/agents')
    loading.value = false
    if (!data) {
      error.value = errorMessage(failure, t('failures.listAgents'))
      return
    }
    error.value = null
    items.value = data.data
  }

  /** The chat's agent picker reads the settings store's copy: keep it in step. */
  async function changed(): Promise<void> {
    await Promise.all([load(), useSettingsStore().loadAgents()])
  }

  /** Each change throws with the server's message when refused (the form shows it). */
  async function create(agent: AgentInfo): Promise<void> {
    const { data, error: failure } = await api.POST('/api/v1/agents', { body: agent })
    if (!data) throw new Error(errorMessage(failure, t('failures.createAgent')))
    await changed()
  }

  async function update(name: string, changes: AgentUpdate): Promise<void> {
    const { data, error: failure } = await api.PATCH('/api/v1/agents/{name}', { params: { path: { name } }, body: changes })
    if (!data) throw new Error(errorMessage(failure, t('failures.change', { name })))
    await changed()
  }

  async function remove(name: string): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/agents/{name}', { params: { path: { name } } })
    if (!response.ok) throw new Error(errorMessage(failure, t('failures.deleteNamed', { name })))
    await changed()
  }

  return { items, loading, error, load, create, update, remove }
})
