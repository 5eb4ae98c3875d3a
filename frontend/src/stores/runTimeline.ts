/**
 * The run open on /runs/:id, followed over its socket (`/runs/{id}/ws?after=SEQ`): the
 * server replays the log after the last `seq` seen, then streams live, so a reconnect
 * resumes where it stopped; the reducer drops what it has already applied. A hole in
 * `seq` is filled from the HTTP event log. The socket closes once the run is over.
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { api, errorMessage } from '@/api/client'
import { isRunStatus, type RunInfo } from '@/api/contract'
import { parseEvent, type ServerEvent } from '@/api/events'
import { ReconnectingSocket, type SocketOptions, type SocketStatus } from '@/lib/reconnectingSocket'
import type { ApprovalView } from '@/lib/runReducer'
import { applyTimelineEvent, isLive, newTimeline, type RunTimeline } from '@/lib/runTimeline'
import { useAuthStore } from './auth'
import { t } from '@/i18n'

/** A run's socket from `after`; the browser sends the session cookie with it. */
export function runSocketUrl(runId: string, after: number): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${location.host}/api/v1/runs/${encodeURIComponent(runId)}/ws?after=${after}`
}

export const useRunTimelineStore = defineStore('runTimeline', () => {
  const run = ref<RunInfo | null>(null)
  const timeline = ref<RunTimeline | null>(null)
  const loading = ref(false)
  const loadError = ref<string | null>(null)
  const actionError = ref<string | null>(null)
  const cancelling = ref(false)
  const verifying = ref(false)
  const socketStatus = ref<SocketStatus>('idle')
  const retryInMs = ref<number | null>(null)
  const socket = shallowRef<ReconnectingSocket | null>(null)
  /** While a hole is fetched, socket events wait here. */
  let pending: ServerEvent[] | null = null

  const live = computed(() => (timeline.value ? isLive(timeline.value) : false))

  /** Loads the run and follows its events; `options` lets tests inject a fake socket. */
  async function open(runId: string, options: Partial<SocketOptions> = {}): Promise<void> {
    close()
    run.value = null
    loadError.value = null
    actionError.value = null
    cancelling.value = false
    timeline.value = newTimeline(runId)
    loading.value = true
    const { data, error } = await api.GET('/api/v1/runs/{run_id}', { params: { path: { run_id: runId } } })
    if (timeline.value?.runId !== runId) return // another run was opened meanwhile
    loading.value = false
    if (!data) {
      loadError.value = errorMessage(error, t('failures.loadRun'))
      return
    }
    run.value = data
    if (isRunStatus(data.status)) timeline.value.status = data.status
    follow(runId, options)
  }

  function follow(runId: string, options: Partial<SocketOptions>): void {
    const auth = useAuthStore()
    const instance = new ReconnectingSocket(
      {
        onEvent: handleEvent,
        onOpen: () => (actionError.value = null),
        onStatus(status, retry) {
          socketStatus.value = status
          retryInMs.value = retry ?? null
        },
        onUnauthorized: async () => {
          // The access cookie expired: renew it and reconnect, else end the session.
          if (await auth.refresh()) instance.connect()
          else auth.expire()
        },
      },
      { url: () => runSocketUrl(runId, timeline.value?.lastSeq ?? 0), ...options },
    )
    socket.value = instance
    instance.connect()
  }

  function handleEvent(event: ServerEvent): void {
    const current = timeline.value
    if (!current || (event.run_id && event.run_id !== current.runId)) return
    if (pending) {
      pending.push(event)
      return
    }
    if (applyTimelineEvent(current, event) === 'gap') void catchUp([event])
    else settle()
  }

  /** Fills a hole from the event log, then applies what the socket sent meanwhile. */
  async function catchUp(waiting: ServerEvent[]): Promise<void> {
    const current = timeline.value
    if (!current) return
    pending = [...waiting]
    const { data } = await api.GET('/api/v1/runs/{run_id}/events', {
      params: { path: { run_id: current.runId }, query: { after: current.lastSeq } },
    })
    const buffered = pending
    pending = null
    for (const row of data?.data ?? []) {
      const event = parseEvent(JSON.stringify(row))
      if (event) applyTimelineEvent(current, event)
    }
    for (const event of buffered.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) applyTimelineEvent(current, event, true)
    settle()
  }

  /** After `complete` (always a run's last event): stop following, reload the row (finished_at). */
  function settle(): void {
    const current = timeline.value
    if (!current?.report || !socket.value) return
    close()
    cancelling.value = false
    void api.GET('/api/v1/runs/{run_id}', { params: { path: { run_id: current.runId } } }).then(({ data }) => {
      if (data && timeline.value?.runId === data.id) run.value = data
    })
  }

  async function cancel(): Promise<void> {
    const current = timeline.value
    if (!current || !isLive(current)) return
    cancelling.value = true
    actionError.value = null
    if (socket.value?.send({ type: 'cancel', run_id: current.runId })) return
    const { data, error } = await api.POST('/api/v1/runs/{run_id}/cancel', { params: { path: { run_id: current.runId } } })
    if (!data) {
      cancelling.value = false
      actionError.value = errorMessage(error, t('failures.cancelRun'))
    }
  }

  /** VERIFY a finished workflow run again; its new phase events are read back. */
  async function verifyAgain(): Promise<void> {
    const current = run.value
    if (!current || verifying.value) return
    verifying.value = true
    actionError.value = null
    const { data, error } = await api.POST('/api/v1/runs/{run_id}/verify', { params: { path: { run_id: current.id } } })
    verifying.value = false
    if (!data) {
      actionError.value = `Could not verify the run again: ${errorMessage(error)}`
      return
    }
    await open(current.id)
  }

  async function decide(approval: ApprovalView, decision: 'approve' | 'deny'): Promise<void> {
    const current = timeline.value
    if (!current) return
    approval.decision = decision
    if (socket.value?.send({ type: 'approval', approval_id: approval.approvalId, decision })) return
    const { error, response } = await api.POST('/api/v1/runs/{run_id}/approvals/{approval_id}', {
      params: { path: { run_id: current.runId, approval_id: approval.approvalId } },
      body: { decision },
    })
    if (!response.ok) {
      approval.decision = undefined
      actionError.value = errorMessage(error, t('failures.decide'))
    }
  }

  function retryNow(): void {
    socket.value?.retryNow()
  }

  function close(): void {
    socket.value?.close()
    socket.value = null
    pending = null
    socketStatus.value = 'idle'
    retryInMs.value = null
  }

  return { run, timeline, loading, loadError, actionError, cancelling, verifying, socketStatus, retryInMs, live, open, cancel, verifyAgain, decide, retryNow, close }
})
