/** The Usage page's figures: tokens per day by model, runs by status, the caller's quota
 * and, for admins, the top users; over the last `days` UTC days. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { Schemas } from '@/api/client'
import { t } from '@/i18n'

export type UsageRow = Schemas['UsageRow']
export type StatusCount = Schemas['StatusCount']
export type QuotaUse = Schemas['QuotaUseOut']

/** The first day of a range of `days` UTC days that ends today, as YYYY-MM-DD. */
export function rangeStart(days: number, today: Date = new Date()): string {
  const start = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - (days - 1)))
  return start.toISOString().slice(0, 10)
}

/** The `day,model` rows as one series per model over the days (0 where a model was idle). */
export function tokensByModel(rows: UsageRow[]): { days: string[]; series: { model: string; tokens: number[] }[] } {
  const days = [...new Set(rows.map((r) => r.day ?? ''))].sort()
  const models = [...new Set(rows.map((r) => r.model ?? ''))].sort()
  const series = models.map((model) => ({
    model,
    tokens: days.map((day) =>
      rows.filter((r) => r.day === day && (r.model ?? '') === model).reduce((sum, r) => sum + r.tokens_in + r.tokens_out, 0),
    ),
  }))
  return { days, series }
}

/** How much of a limit is used, 0-100 (a missing limit: none). */
export function percentOf(used: number, limit: number | null | undefined): number | undefined {
  if (limit == null) return undefined
  if (limit <= 0) return 100
  return Math.min(100, (used / limit) * 100)
}

export const useUsageStore = defineStore('usage', () => {
  const days = ref(30)
  const byDayModel = ref<UsageRow[]>([])
  const statuses = ref<StatusCount[]>([])
  const quota = ref<QuotaUse | null>(null)
  const topUsers = ref<UsageRow[]>([])
  const totals = ref<UsageRow | null>(null)
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref<string | null>(null)

  /** Everything at once; `admin` adds the top users. A part that fails says so. */
  async function load(admin = false): Promise<void> {
    loading.value = true
    const query = { from: rangeStart(days.value) }
    const [report, runs, mine, users] = await Promise.all([
      api.GET('/api/v1/usage', { params: { query: { ...query, group_by: 'day,model' } } }),
      api.GET('/api/v1/usage/runs', { params: { query } }),
      api.GET('/api/v1/usage/quota'),
      admin ? api.GET('/api/v1/usage', { params: { query: { ...query, group_by: 'user' } } }) : Promise.resolve(null),
    ])
    loading.value = false
    loaded.value = true
    if (report.data) {
      byDayModel.value = report.data.data
      totals.value = report.data.totals
    }
    if (runs.data) statuses.value = runs.data.data
    if (mine.data) quota.value = mine.data
    if (users?.data) {
      topUsers.value = [...users.data.data].sort((a, b) => b.tokens_in + b.tokens_out - (a.tokens_in + a.tokens_out)).slice(0, 10)
    }
    const failed = [report, runs, mine, users].find((a) => a && !a.data)
    error.value = failed ? errorMessage(failed.error, t('usage.failed')) : null
  }

  return { days, byDayModel, statuses, quota, topUsers, totals, loading, loaded, error, load }
})
