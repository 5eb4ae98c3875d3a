/** MCP servers: admins register, refresh and remove them; everyone stores their own credentials. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { Schemas } from '@/api/client'
import { t } from '@/i18n'

export type McpServer = Schemas['McpServerOut']
export type McpServerIn = Schemas['McpServerIn']
export type McpRefresh = Schemas['McpRefreshOut']

export const useMcpStore = defineStore('mcp', () => {
  const items = ref<McpServer[]>([])
  const error = ref<string | null>(null)
  const refreshed = ref<Record<string, McpRefresh>>({})
  const busy = ref<string | null>(null)

  async function load(): Promise<void> {
    const { data, error: failure } = await api.GET('/api/v1/mcp/servers')
    if (!data) {
      error.value = errorMessage(failure, t('failures.listMcp'))
      return
    }
    error.value = null
    items.value = data.data
  }

  async function create(body: McpServerIn): Promise<boolean> {
    const { data, error: failure } = await api.POST('/api/v1/mcp/servers', { body })
    if (!data) {
      error.value = errorMessage(failure, t('failures.addMcp'))
      return false
    }
    error.value = null
    items.value = [...items.value, data].sort((a, b) => a.name.localeCompare(b.name))
    await refresh(data.id)
    return true
  }

  async function refresh(id: string): Promise<void> {
    busy.value = id
    const { data, error: failure } = await api.POST('/api/v1/mcp/servers/{server_id}/refresh', {
      params: { path: { server_id: id } },
    })
    busy.value = null
    if (!data) {
      error.value = errorMessage(failure, t('failures.reachMcp'))
      return
    }
    error.value = null
    refreshed.value = { ...refreshed.value, [id]: data }
    items.value = items.value.map((s) => (s.id === id ? { ...s, tools: data.tools, refreshed_at: data.refreshed_at } : s))
  }

  async function setEnabled(id: string, enabled: boolean): Promise<void> {
    const { data, error: failure } = await api.PATCH('/api/v1/mcp/servers/{server_id}', {
      params: { path: { server_id: id } },
      body: { enabled },
    })
    if (!data) {
      error.value = errorMessage(failure, t('failures.changeMcp'))
      return
    }
    items.value = items.value.map((s) => (s.id === id ? data : s))
  }

  async function remove(id: string): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/mcp/servers/{server_id}', {
      params: { path: { server_id: id } },
    })
    if (!response.ok) {
      error.value = errorMessage(failure, t('failures.removeMcp'))
      return
    }
    items.value = items.value.filter((s) => s.id !== id)
  }

  async function setCredentials(
    id: string,
    kind: 'headers' | 'env',
    values: Record<string, string>,
  ): Promise<boolean> {
    const { data, error: failure } = await api.PUT('/api/v1/mcp/servers/{server_id}/credentials', {
      params: { path: { server_id: id } },
      body: { [kind]: values },
    })
    if (!data) {
      error.value = errorMessage(failure, t('failures.storeCredentials'))
      return false
    }
    error.value = null
    items.value = items.value.map((s) => (s.id === id ? { ...s, has_credentials: true } : s))
    return true
  }

  return { items, error, refreshed, busy, load, create, refresh, setEnabled, remove, setCredentials }
})
