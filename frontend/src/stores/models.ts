/** Models and their connections: everyone sees the models; admins manage connections,
 * per-model settings and pulls (with live progress). */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, errorDetail, errorMessage } from '@/api/client'
import { t } from '@/i18n'
import type { Schemas } from '@/api/client'
import type { ModelInfo } from '@/api/contract'
import { readNdjson } from '@/lib/ndjson'

export type Connection = Schemas['ConnectionOut']
export type ConnectionIn = Schemas['ConnectionIn']
export type ConnectionUpdate = Schemas['ConnectionUpdate']
export type ModelSettings = Schemas['ModelSettingsOut']
export type ModelSettingsIn = Schemas['ModelSettingsIn']
export type PullProgress = Schemas['PullProgress']

/** A pull under way (or just ended) on one connection. */
export interface PullState {
  model: string
  status: string
  total: number | null
  completed: number | null
  error: string | null
  done: boolean
}

export function pullPercent(pull: PullState): number | null {
  if (!pull.total || pull.completed == null) return null
  return Math.min(100, Math.round((100 * pull.completed) / pull.total))
}

export const useModelsStore = defineStore('models', () => {
  const models = ref<ModelInfo[]>([])
  const connections = ref<Connection[]>([])
  const settings = ref<ModelSettings[]>([])
  const error = ref<string | null>(null)
  const busy = ref<string | null>(null)
  const pulls = ref<Record<string, PullState>>({})

  const byConnection = computed(() => {
    const groups: Record<string, ModelInfo[]> = {}
    for (const model of models.value) (groups[model.connection_id ?? ''] ??= []).push(model)
    return groups
  })

  function settingsFor(connectionId: string, model: string): ModelSettings | undefined {
    return settings.value.find((s) => s.connection_id === connectionId && s.model === model)
  }

  async function loadModels(): Promise<void> {
    const { data, error: failure } = await api.GET('/api/v1/system/models')
    if (!data) {
      error.value = errorMessage(failure, t('failures.listModels'))
      return
    }
    models.value = data.data
  }

  /** Models for everyone; connections and settings too for admins. */
  async function load(admin: boolean): Promise<void> {
    error.value = null
    if (admin) {
      const [listed, stored] = await Promise.all([
        api.GET('/api/v1/models/connections'),
        api.GET('/api/v1/models/settings'),
      ])
      if (!listed.data || !stored.data) {
        error.value = errorMessage(listed.error ?? stored.error, t('failures.listConnections'))
      } else {
        connections.value = listed.data.data
        settings.value = stored.data.data
      }
    }
    await loadModels()
  }

  function replace(connection: Connection): void {
    const known = connections.value.some((c) => c.id === connection.id)
    connections.value = known
      ? connections.value.map((c) => (c.id === connection.id ? connection : c))
      : [...connections.value, connection]
  }

  async function create(body: ConnectionIn): Promise<Connection | null> {
    busy.value = 'new'
    const { data, error: failure } = await api.POST('/api/v1/models/connections', { body })
    busy.value = null
    if (!data) {
      error.value = errorMessage(failure, t('failures.addConnection'))
      return null
    }
    error.value = null
    replace(data)
    await loadModels()
    return data
  }

  async function update(id: string, body: ConnectionUpdate): Promise<boolean> {
    busy.value = id
    const { data, error: failure } = await api.PATCH('/api/v1/models/connections/{connection_id}', {
      params: { path: { connection_id: id } },
      body,
    })
    busy.value = null
    if (!data) {
      error.value = errorMessage(failure, t('failures.changeConnection'))
      return false
    }
    error.value = null
    replace(data)
    await loadModels()
    return true
  }

  async function check(id: string): Promise<void> {
    busy.value = id
    const { data, error: failure } = await api.POST('/api/v1/models/connections/{connection_id}/check', {
      params: { path: { connection_id: id } },
    })
    busy.value = null
    if (!data) {
      error.value = errorMessage(failure, t('failures.checkConnection'))
      return
    }
    replace(data)
    await loadModels()
  }

  async function remove(id: string): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/models/connections/{connection_id}', {
      params: { path: { connection_id: id } },
    })
    if (!response.ok) {
      error.value = errorMessage(failure, t('failures.removeConnection'))
      return
    }
    connections.value = connections.value.filter((c) => c.id !== id)
    settings.value = settings.value.filter((s) => s.connection_id !== id)
    await loadModels()
  }

  async function saveSettings(body: ModelSettingsIn): Promise<boolean> {
    const { data, error: failure } = await api.PUT('/api/v1/models/settings', { body })
    if (!data) {
      error.value = errorMessage(failure, t('failures.saveModelSettings'))
      return false
    }
    error.value = null
    settings.value = [...settings.value.filter((s) => s.connection_id !== data.connection_id || s.model !== data.model), data]
    await loadModels()
    return true
  }

  /** Pull a model onto an Ollama connection, following its progress line by line. */
  async function pull(connectionId: string, model: string): Promise<boolean> {
    const state: PullState = { model, status: 'starting', total: null, completed: null, error: null, done: false }
    pulls.value = { ...pulls.value, [connectionId]: state }
    const update = (patch: Partial<PullState>) => {
      pulls.value = { ...pulls.value, [connectionId]: { ...pulls.value[connectionId]!, ...patch } }
    }
    const { data, error: failure } = await api.POST('/api/v1/models/pull', {
      body: { connection_id: connectionId, model },
      parseAs: 'stream',
    })
    if (!data) {
      update({ status: 'error', error: errorDetail(failure) ?? errorMessage(failure, t('failures.pullModel')), done: true })
      return false
    }
    try {
      await readNdjson<PullProgress>(data as ReadableStream<Uint8Array>, (line) => {
        const patch: Partial<PullState> = { status: line.status }
        if (line.total != null) patch.total = line.total
        if (line.completed != null) patch.completed = line.completed
        if (line.error) patch.error = line.error
        update(patch)
      })
    } catch (problem) {
      update({ status: 'error', error: errorMessage(problem, t('failures.pullCut')) })
    }
    const ended = pulls.value[connectionId]!
    const ok = ended.status === 'success' && !ended.error
    update({ done: true, status: ok ? 'success' : 'error' })
    if (ok) await loadModels()
    return ok
  }

  return {
    models,
    connections,
    settings,
    error,
    busy,
    pulls,
    byConnection,
    settingsFor,
    load,
    loadModels,
    create,
    update,
    check,
    remove,
    saveSettings,
    pull,
  }
})
