/** The tool registry with usage statistics; admins switch tools on and off. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { ToolInfo } from '@/api/contract'
import { t } from '@/i18n'

export const useToolsStore = defineStore('tools', () => {
  const items = ref<ToolInfo[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)

  async function load(): Promise<void> {
    loading.value = true
    const { data, error: failure } = await api.GET('/api/v1/tools')
    loading.value = false
    if (!data) {
      error.value = errorMessage(failure, t('failures.listTools'))
      return
    }
    error.value = null
    items.value = data.data
  }

  async function setEnabled(name: string, enabled: boolean): Promise<void> {
    const tool = items.value.find((t) => t.name === name)
    if (!tool) return
    const before = tool.enabled
    tool.enabled = enabled // optimistic: the switch answers at once
    const { data, error: failure } = await api.PATCH('/api/v1/tools/{name}', {
      params: { path: { name } },
      body: { enabled },
    })
    if (data) {
      Object.assign(tool, data)
      error.value = null
    } else {
      tool.enabled = before
      error.value = errorMessage(failure, t('failures.change', { name }))
    }
  }

  return { items, loading, error, load, setEnabled }
})
