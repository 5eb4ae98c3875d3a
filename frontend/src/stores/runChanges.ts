/** What one run changed in the workspace, and undoing it (GET /runs/{id}/changes, POST revert). */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorDetail, errorMessage, type Schemas } from '@/api/client'
import { t } from '@/i18n'

export type WorkspaceChange = Schemas['ChangeOut']

export const useRunChangesStore = defineStore('runChanges', () => {
  const runId = ref<string | null>(null)
  const items = ref<WorkspaceChange[]>([])
  const loading = ref(false)
  const reverting = ref(false)
  const error = ref<string | null>(null)
  const notice = ref<string | null>(null)
  /** Set when a revert was refused because a later run changed the same paths. */
  const conflict = ref<string | null>(null)

  async function load(id: string): Promise<void> {
    if (runId.value !== id) {
      items.value = []
      notice.value = null
      conflict.value = null
    }
    runId.value = id
    loading.value = true
    const { data, error: failure } = await api.GET('/api/v1/runs/{run_id}/changes', {
      params: { path: { run_id: id } },
    })
    loading.value = false
    if (runId.value !== id) return
    if (!data) {
      error.value = errorMessage(failure, t('failures.loadChanges'))
      return
    }
    error.value = null
    items.value = data.data
  }

  async function revert(force = false): Promise<void> {
    const id = runId.value
    if (!id) return
    reverting.value = true
    const { data, error: failure, response } = await api.POST('/api/v1/runs/{run_id}/revert', {
      params: { path: { run_id: id } },
      body: { force },
    })
    reverting.value = false
    if (!data) {
      const message = errorMessage(failure, t('failures.revertChanges'))
      // A conflict names the paths changed since the run: the server's own words say which.
      if (response.status === 409) conflict.value = errorDetail(failure) ?? message
      else error.value = message
      return
    }
    conflict.value = null
    error.value = null
    const n = data.reverted.length
    const reverted = t('runChanges.reverted', { n }, n)
    notice.value = data.skipped.length ? `${reverted}${t('runChanges.skipped', { paths: data.skipped.join(', ') })}` : reverted
    await load(id)
  }

  return { runId, items, loading, reverting, error, notice, conflict, load, revert }
})
