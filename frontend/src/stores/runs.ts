/** The user's runs: one page of the list (status filter, newest first) and starting a new run. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { RunInfo, RunStatus } from '@/api/contract'
import { t } from '@/i18n'

export const PAGE_SIZE = 20

export interface NewRun {
  goal: string
  agent?: string
  model?: string
}

export const useRunsStore = defineStore('runs', () => {
  const items = ref<RunInfo[]>([])
  const count = ref(0)
  const status = ref<RunStatus | ''>('')
  const page = ref(0)
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref<string | null>(null)

  const pages = computed(() => Math.max(1, Math.ceil(count.value / PAGE_SIZE)))

  async function load(): Promise<void> {
    loading.value = true
    const { data, error: failure } = await api.GET('/api/v1/runs', {
      params: { query: { status: status.value || undefined, limit: PAGE_SIZE, offset: page.value * PAGE_SIZE } },
    })
    loading.value = false
    if (!data) {
      error.value = errorMessage(failure, t('failures.listRuns'))
      return
    }
    error.value = null
    loaded.value = true
    items.value = data.data
    count.value = data.count
  }

  async function setStatus(value: RunStatus | ''): Promise<void> {
    status.value = value
    page.value = 0
    await load()
  }

  async function goTo(target: number): Promise<void> {
    page.value = Math.min(Math.max(0, target), pages.value - 1)
    await load()
  }

  /** Starts a run; throws with the server's message when it is refused. */
  async function create(body: NewRun): Promise<RunInfo> {
    const { data, error: failure } = await api.POST('/api/v1/runs', {
      body: { goal: body.goal, agent: body.agent || undefined, model: body.model || undefined },
    })
    if (!data) throw new Error(errorMessage(failure, t('failures.startRun')))
    return data
  }

  return { items, count, status, page, pages, loading, loaded, error, load, setStatus, goTo, create }
})
