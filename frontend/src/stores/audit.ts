/** The audit log (admins): every tool call, newest first, filtered by tool and user, a page
 * at a time. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { Schemas } from '@/api/client'
import { t } from '@/i18n'

export type AuditEntry = Schemas['ToolCallOut']
export const PAGE_SIZE = 25

export const useAuditStore = defineStore('audit', () => {
  const items = ref<AuditEntry[]>([])
  const count = ref(0)
  const offset = ref(0)
  const tool = ref('')
  const userId = ref<number | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  const pages = computed(() => Math.max(1, Math.ceil(count.value / PAGE_SIZE)))
  const page = computed(() => Math.floor(offset.value / PAGE_SIZE) + 1)

  async function load(): Promise<void> {
    loading.value = true
    const query = {
      limit: PAGE_SIZE,
      offset: offset.value,
      ...(tool.value.trim() ? { tool: tool.value.trim() } : {}),
      ...(userId.value ? { user_id: userId.value } : {}),
    }
    const { data, error: failure } = await api.GET('/api/v1/tools/audit', { params: { query } })
    loading.value = false
    if (!data) {
      error.value = errorMessage(failure, t('audit.failed'))
      return
    }
    error.value = null
    items.value = data.data
    count.value = data.count
  }

  /** New filters start again at the first page. */
  async function filter(next: { tool?: string; userId?: number | null }): Promise<void> {
    if (next.tool !== undefined) tool.value = next.tool
    if (next.userId !== undefined) userId.value = next.userId
    offset.value = 0
    await load()
  }

  async function goTo(n: number): Promise<void> {
    const target = Math.min(Math.max(1, n), pages.value)
    offset.value = (target - 1) * PAGE_SIZE
    await load()
  }

  return { items, count, offset, tool, userId, loading, error, pages, page, load, filter, goTo }
})
