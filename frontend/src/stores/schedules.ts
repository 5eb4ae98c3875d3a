/** Runs nobody starts by hand: schedules (cron in a time zone) and webhook triggers. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage, type Schemas } from '@/api/client'
import type { RunInfo } from '@/api/contract'
import { t } from '@/i18n'

export type Schedule = Schemas['ScheduleOut']
export type ScheduleCreate = Schemas['ScheduleCreate']
export type ScheduleUpdate = Schemas['ScheduleUpdate']
export type Trigger = Schemas['TriggerOut']
export type TriggerCreate = Schemas['TriggerCreate']

const RECENT_RUNS = 5

export const useSchedulesStore = defineStore('schedules', () => {
  const schedules = ref<Schedule[]>([])
  const triggers = ref<Trigger[]>([])
  /** The last runs of each schedule whose runs were opened, newest first. */
  const runs = ref<Record<string, RunInfo[]>>({})
  const loading = ref(false)
  const error = ref<string | null>(null)

  async function load(): Promise<void> {
    loading.value = true
    const [listed, hooks] = await Promise.all([api.GET('/api/v1/schedules'), api.GET('/api/v1/triggers')])
    loading.value = false
    if (!listed.data || !hooks.data) {
      error.value = errorMessage(listed.error ?? hooks.error, t('failures.loadSchedules'))
      return
    }
    error.value = null
    schedules.value = listed.data.data
    triggers.value = hooks.data.data
  }

  /** Each change throws with the server's message when refused (the form shows it). */
  async function create(body: ScheduleCreate): Promise<Schedule> {
    const { data, error: failure } = await api.POST('/api/v1/schedules', { body })
    if (!data) throw new Error(errorMessage(failure, t('failures.saveSchedule')))
    schedules.value = [...schedules.value, data]
    return data
  }

  async function update(id: string, body: ScheduleUpdate): Promise<void> {
    const { data, error: failure } = await api.PATCH('/api/v1/schedules/{schedule_id}', {
      params: { path: { schedule_id: id } },
      body,
    })
    if (!data) throw new Error(errorMessage(failure, t('failures.saveSchedule')))
    schedules.value = schedules.value.map((s) => (s.id === id ? data : s))
  }

  async function remove(id: string): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/schedules/{schedule_id}', {
      params: { path: { schedule_id: id } },
    })
    if (!response.ok) throw new Error(errorMessage(failure, t('failures.deleteSchedule')))
    schedules.value = schedules.value.filter((s) => s.id !== id)
  }

  async function loadRuns(id: string): Promise<void> {
    const { data, error: failure } = await api.GET('/api/v1/schedules/{schedule_id}/runs', {
      params: { path: { schedule_id: id }, query: { limit: RECENT_RUNS } },
    })
    if (!data) throw new Error(errorMessage(failure, t('failures.loadRuns')))
    runs.value = { ...runs.value, [id]: data.data }
  }

  /** A new trigger; its secret is in this answer only. */
  async function createTrigger(body: TriggerCreate): Promise<Trigger> {
    const { data, error: failure } = await api.POST('/api/v1/triggers', { body })
    if (!data) throw new Error(errorMessage(failure, t('failures.saveTrigger')))
    triggers.value = [...triggers.value, { ...data, secret: null }]
    return data
  }

  async function removeTrigger(id: string): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/triggers/{trigger_id}', {
      params: { path: { trigger_id: id } },
    })
    if (!response.ok) throw new Error(errorMessage(failure, t('failures.deleteTrigger')))
    triggers.value = triggers.value.filter((s) => s.id !== id)
  }

  return { schedules, triggers, runs, loading, error, load, create, update, remove, loadRuns, createTrigger, removeTrigger }
})
