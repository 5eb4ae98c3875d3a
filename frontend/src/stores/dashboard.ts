/** What the dashboard shows: live and recent runs, tool statistics, the machine's state. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import { LIVE_STATUSES, type RunInfo, type SystemStats, type ToolInfo } from '@/api/contract'
import { t } from '@/i18n'

const RECENT = 8

export const useDashboardStore = defineStore('dashboard', () => {
  const active = ref<RunInfo[]>([])
  const recent = ref<RunInfo[]>([])
  const tools = ref<ToolInfo[]>([])
  const stats = ref<SystemStats | null>(null)
  const loaded = ref(false)
  const error = ref<string | null>(null)
  const updatedAt = ref<Date | null>(null)

  async function activeRuns(): Promise<RunInfo[]> {
    const answers = await Promise.all(
      LIVE_STATUSES.map((status) => api.GET('/api/v1/runs', { params: { query: { status, limit: 50 } } })),
    )
    const runs = answers.flatMap((a) => a.data?.data ?? [])
    return runs.sort((a, b) => b.created_at.localeCompare(a.created_at))
  }

  /** Fetches everything at once; a part that fails keeps its last value and says so. */
  async function refresh(): Promise<void> {
    const [live, latest, toolList, system] = await Promise.all([
      activeRuns(),
      api.GET('/api/v1/runs', { params: { query: { limit: RECENT } } }),
      api.GET('/api/v1/tools'),
      api.GET('/api/v1/system/stats'),
    ])
    active.value = live
    if (latest.data) recent.value = latest.data.data
    if (toolList.data) tools.value = toolList.data.data
    if (system.data) stats.value = system.data
    const failed = [latest, toolList, system].find((a) => !a.data)
    error.value = failed ? errorMessage(failed.error, t('failures.loadFigures')) : null
    loaded.value = true
    updatedAt.value = new Date()
  }

  return { active, recent, tools, stats, loaded, error, updatedAt, refresh }
})
