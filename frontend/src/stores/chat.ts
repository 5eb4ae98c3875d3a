/**
 * The open conversation and the live socket: sending, streaming runs into turns, tool
 * approvals, cancelling, and catching up after a reconnect (the socket's `resume`, which
 * replays a run's log after the last `seq` seen; the HTTP event log fills any hole).
 */
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { api, errorMessage, type StoredMessage } from '@/api/client'
import { parseEvent, type Citation, type ServerEvent } from '@/api/events'
import { ReconnectingSocket, type SocketOptions, type SocketStatus } from '@/lib/reconnectingSocket'
import { applyEvent, isActive, newRun, toolsFromHistory, type ApprovalView, type RunView } from '@/lib/runReducer'
import { useAuthStore } from './auth'
import { useConversationsStore } from './conversations'
import { t } from '@/i18n'

export interface Turn {
  key: string
  role: 'user' | 'assistant' | 'system'
  content: string
  createdAt: string
  /** Assistant turns: the run that produced (or is producing) the answer. */
  run: RunView | null
  /** Stored turns: the message's id, its parent and the other versions beside it. */
  id?: number
  parentId?: number | null
  siblingIds?: number[]
  feedback?: Feedback | null
}

export interface Feedback {
  rating: 1 | -1
  comment?: string | null
}

interface LiveExchange {
  conversationId: string
  user: Turn
  assistant: Turn & { run: RunView }
}

let keySeq = 0
const nextKey = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++keySeq}`

/** The chat socket; the browser sends the session cookie with it. */
export function socketUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return `${scheme}://${location.host}/api/v1/chat/ws`
}

function turnFromHistory(message: StoredMessage): Turn {
  const turn: Turn = {
    key: `m${message.id}`,
    role: message.role,
    content: message.content,
    createdAt: message.created_at,
    run: null,
    id: message.id,
    parentId: message.parent_id ?? null,
    siblingIds: message.sibling_ids ?? [],
    feedback: (message.feedback as Feedback | null | undefined) ?? null,
  }
  if (message.role === 'assistant') {
    turn.run = {
      ...newRun(message.run_id),
      content: message.content,
      status: 'complete',
      tools: toolsFromHistory(message.tools_used),
      citations: (message.citations ?? []) as Citation[],
    }
  }
  return turn
}

export const useChatStore = defineStore('chat', () => {
  const conversationId = ref<string | null>(null)
  const history = ref<Turn[]>([])
  const live = ref<LiveExchange[]>([])
  const loadingHistory = ref(false)
  const historyError = ref<string | null>(null)
  const sendError = ref<string | null>(null)
  const socketStatus = ref<SocketStatus>('idle')
  const retryInMs = ref<number | null>(null)
  const model = ref('')
  const agent = ref('')
  /** Knowledge collections the next messages search (the composer's picker). */
  const knowledge = ref<string[]>([])
  const socket = shallowRef<ReconnectingSocket | null>(null)

  /** Runs sent but not yet named by the server: the next unknown run_id belongs to the oldest. */
  const unbound: RunView[] = []
  /** Exchanges this tab watched end without an answer, by run: their turns stay under their questions. */
  const unanswered = new Map<string, LiveExchange>()
  /** Runs whose hole in `seq` is being fetched; socket events for them wait here meanwhile. */
  const catchingUp = new Map<string, ServerEvent[]>()

  const turns = computed<Turn[]>(() => {
    const id = conversationId.value
    const extra = live.value.filter((x) => x.conversationId === id).flatMap((x) => [x.user, x.assistant])
    return [...history.value, ...extra]
  })
  const activeRun = computed(() => {
    const id = conversationId.value
    return live.value.find((x) => x.conversationId === id && isActive(x.assistant.run))?.assistant.run ?? null
  })
  const connected = computed(() => socketStatus.value === 'open')

  function allRuns(): RunView[] {
    return live.value.map((x) => x.assistant.run)
  }

  function runFor(event: ServerEvent): RunView | undefined {
    if (event.run_id) {
      const known = allRuns().find((r) => r.runId === event.run_id)
      if (known) return known
      const waiting = unbound.shift()
      if (waiting) waiting.runId = event.run_id
      return waiting
    }
    // An error about no run in particular (a refused message) answers the oldest unanswered send.
    return unbound.shift()
  }

  function handleEvent(event: ServerEvent): void {
    const run = runFor(event)
    if (!run) return // a run this tab did not start
    const buffer = run.runId ? catchingUp.get(run.runId) : undefined
    if (buffer) buffer.push(event)
    else deliver(run, event)
  }

  function deliver(run: RunView, event: ServerEvent): void {
    const wasActive = isActive(run)
    const result = applyEvent(run, event)
    if (result === 'gap' && run.runId) {
      void catchUp(run, [event])
      return
    }
    if (run.cancelRequested && run.runId && isActive(run)) sendCancel(run)
    if (wasActive && !isActive(run)) finished(run)
  }

  function finished(run: RunView): void {
    const id = run.conversationId ?? conversationId.value
    if (id) void useConversationsStore().touch(id)
    // The stored branch names the new messages (ids, versions): edit, regenerate, rate.
    if (id && id === conversationId.value && !live.value.some((x) => x.conversationId === id && isActive(x.assistant.run))) {
      void reload()
    }
  }

  /** Shows the open conversation's active branch as stored. */
  async function reload(): Promise<void> {
    const id = conversationId.value
    if (!id) return
    const { data } = await api.GET('/api/v1/conversations/{conversation_id}/messages', {
      params: { path: { conversation_id: id } },
    })
    if (!data || conversationId.value !== id) return
    showBranch(id, data.data)
  }

  function showBranch(id: string, messages: StoredMessage[]): void {
    // Finished exchanges are in the stored history now; one still streaming stays live.
    // A stored message of an exchange this tab watched keeps its turn's key and run (the
    // thinking and the open cards stay as they were), and gains its id and versions.
    // A run that ended without an answer (an error, a cancel) stores only the question:
    // its turn, with the error on it, stays below that question rather than vanish.
    const answered = new Set(messages.filter((m) => m.role === 'assistant' && m.run_id).map((m) => m.run_id))
    const watched = new Map<string, LiveExchange>(unanswered)
    for (const x of live.value) {
      if (x.conversationId === id && !isActive(x.assistant.run) && x.assistant.run.runId) watched.set(x.assistant.run.runId, x)
    }
    // Kept live: what still streams, and an ended exchange the server never stored (a refused message).
    live.value = live.value.filter((x) => x.conversationId !== id || isActive(x.assistant.run) || !x.assistant.run.runId)
    const streaming = new Set(live.value.filter((x) => x.conversationId === id).map((x) => x.user.content))
    history.value = messages
      .filter((m, i, all) => !(i === all.length - 1 && m.role === 'user' && streaming.has(m.content)))
      .flatMap((message) => {
        const turn = turnFromHistory(message)
        const seen = message.run_id ? watched.get(message.run_id) : undefined
        if (!seen) return [turn]
        if (message.role === 'assistant') {
          turn.key = seen.assistant.key
          turn.run = seen.assistant.run
          return [turn]
        }
        turn.key = seen.user.key
        if (answered.has(message.run_id)) return [turn]
        unanswered.set(message.run_id!, seen)
        return [turn, seen.assistant]
      })
  }

  /** Fills a hole in `seq` from the run's event log, then applies what the socket sent meanwhile. */
  async function catchUp(run: RunView, pending: ServerEvent[] = []): Promise<void> {
    const runId = run.runId
    if (!runId) return
    const buffer = [...pending]
    catchingUp.set(runId, buffer)
    const wasActive = isActive(run)
    const { data } = await api.GET('/api/v1/runs/{run_id}/events', {
      params: { path: { run_id: runId }, query: { after: run.lastSeq } },
    })
    catchingUp.delete(runId)
    for (const row of data?.data ?? []) {
      const event = parseEvent(JSON.stringify(row))
      if (event) applyEvent(run, event)
    }
    // Without a log to ask, take the stream as it comes rather than stall.
    for (const event of buffer.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) applyEvent(run, event, true)
    if (wasActive && !isActive(run)) finished(run)
  }

  /** After a reconnect: the socket replays each active run after its last `seq`, then follows it. */
  function resumeActiveRuns(): void {
    for (const run of allRuns()) {
      if (!isActive(run) || !run.runId) continue
      if (!socket.value?.send({ type: 'resume', run_id: run.runId, after: run.lastSeq })) void catchUp(run)
    }
  }

  function connect(options: Partial<SocketOptions> = {}): void {
    if (socket.value) {
      socket.value.connect()
      return
    }
    const auth = useAuthStore()
    const instance = new ReconnectingSocket(
      {
        onEvent: handleEvent,
        onOpen(reconnected) {
          sendError.value = null
          if (reconnected) resumeActiveRuns()
        },
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
      { url: () => socketUrl(), ...options },
    )
    socket.value = instance
    instance.connect()
  }

  function disconnect(): void {
    socket.value?.close()
    socket.value = null
    socketStatus.value = 'idle'
  }

  function retryNow(): void {
    socket.value?.retryNow()
  }

  /** Forgets a conversation's ended exchanges the server never stored (refused messages). */
  function dropEnded(id: string | null): void {
    live.value = live.value.filter((x) => x.conversationId !== id || isActive(x.assistant.run) || !!x.assistant.run.runId)
  }

  /** Shows a conversation (null: a new chat); runs still streaming elsewhere keep going. */
  async function open(id: string | null): Promise<void> {
    if (id === conversationId.value) return
    dropEnded(conversationId.value)
    conversationId.value = id
    history.value = []
    historyError.value = null
    sendError.value = null
    if (!id) return
    loadingHistory.value = true
    const { data, error } = await api.GET('/api/v1/conversations/{conversation_id}/messages', {
      params: { path: { conversation_id: id } },
    })
    if (conversationId.value !== id) return
    loadingHistory.value = false
    if (!data) {
      historyError.value = errorMessage(error, t('failures.loadConversation'))
      return
    }
    showBranch(id, data.data)
  }

  /**
   * Sends a message; creates the conversation first when there is none. Returns its id.
   * `parentId` (a message id, or null for a new first message) starts a sibling branch
   * below that message; the turns shown after it give way to the new exchange.
   */
  async function send(text: string, attachments: string[] = [], parentId?: number | null): Promise<string | null> {
    const message = text.trim()
    if (!message) return conversationId.value
    if (!socket.value || socketStatus.value !== 'open') {
      sendError.value = t('failures.notConnected')
      return null
    }
    sendError.value = null
    let id = conversationId.value
    if (!id) {
      try {
        const created = await useConversationsStore().create(message.slice(0, 60), model.value || undefined)
        id = created.id
        conversationId.value = id
      } catch (failure) {
        sendError.value = (failure as Error).message
        return null
      }
    }
    if (parentId !== undefined) {
      const index = parentId === null ? -1 : history.value.findIndex((t) => t.id === parentId)
      history.value = history.value.slice(0, index + 1)
    }
    dropEnded(id)
    const now = new Date().toISOString()
    const run = newRun()
    run.conversationId = id
    live.value.push({
      conversationId: id,
      user: { key: nextKey('u'), role: 'user', content: message, createdAt: now, run: null },
      assistant: { key: nextKey('a'), role: 'assistant', content: '', createdAt: now, run },
    })
    const tracked = live.value[live.value.length - 1]!.assistant.run // the reactive one
    unbound.push(tracked)
    const sent = socket.value.send({
      message,
      conversation_id: id,
      ...(model.value ? { model: model.value } : {}),
      ...(agent.value ? { agent: agent.value } : {}),
      ...(attachments.length ? { attachments } : {}),
      ...(knowledge.value.length ? { knowledge: [...knowledge.value] } : {}),
      ...(parentId !== undefined ? { parent_message_id: parentId } : {}),
    })
    if (!sent) {
      unbound.splice(unbound.indexOf(tracked), 1)
      tracked.status = 'error'
      tracked.error = { message: t('failures.dropped'), code: 'disconnected', reset_at: null }
    }
    return id
  }

  /** Resends an edited user message as a new version beside it. */
  async function edit(turn: Turn, text: string): Promise<string | null> {
    return send(text, [], turn.parentId ?? null)
  }

  /** Asks again: the question of this answer, resent below the same parent. */
  async function regenerate(turn: Turn): Promise<string | null> {
    const question = history.value.find((t) => t.id === turn.parentId && t.role === 'user')
    if (!question) return null
    return send(question.content, [], question.parentId ?? null)
  }

  /** Shows another version: the branch through `messageId`. */
  async function switchTo(messageId: number): Promise<void> {
    const id = conversationId.value
    if (!id) return
    const { data, error } = await api.PUT('/api/v1/conversations/{conversation_id}/active', {
      params: { path: { conversation_id: id } },
      body: { message_id: messageId },
    })
    if (!data) {
      sendError.value = errorMessage(error, t('failures.showVersion'))
      return
    }
    if (conversationId.value === id) showBranch(id, data.data)
  }

  /** Rates an answer (null takes the rating back). */
  async function rate(turn: Turn, feedback: Feedback | null): Promise<void> {
    if (turn.id === undefined) return
    const path = { params: { path: { message_id: turn.id } } }
    const { error, response } = feedback
      ? await api.POST('/api/v1/messages/{message_id}/feedback', { ...path, body: { rating: feedback.rating, comment: feedback.comment || null } })
      : await api.DELETE('/api/v1/messages/{message_id}/feedback', path)
    if (!response.ok) {
      sendError.value = errorMessage(error, t('failures.saveRating'))
      return
    }
    const shown = history.value.find((t) => t.id === turn.id)
    if (shown) shown.feedback = feedback
  }

  function sendCancel(run: RunView): void {
    const runId = run.runId
    if (!runId) return
    run.cancelRequested = false
    if (!socket.value?.send({ type: 'cancel', run_id: runId })) {
      void api.POST('/api/v1/runs/{run_id}/cancel', { params: { path: { run_id: runId } } })
    }
  }

  /** Stops the active run of the open conversation (as soon as it has an id). */
  function stop(): void {
    const run = activeRun.value
    if (!run) return
    if (run.runId) sendCancel(run)
    else run.cancelRequested = true
  }

  async function decide(run: RunView, approval: ApprovalView, decision: 'approve' | 'deny'): Promise<void> {
    approval.decision = decision
    if (socket.value?.send({ type: 'approval', approval_id: approval.approvalId, decision }) || !run.runId) return
    const { error, response } = await api.POST('/api/v1/runs/{run_id}/approvals/{approval_id}', {
      params: { path: { run_id: run.runId, approval_id: approval.approvalId } },
      body: { decision },
    })
    if (!response.ok) {
      approval.decision = undefined
      sendError.value = errorMessage(error, t('failures.decide'))
    }
  }

  function reset(): void {
    disconnect()
    conversationId.value = null
    history.value = []
    live.value = []
    unbound.length = 0
    unanswered.clear()
  }

  return {
    conversationId,
    turns,
    activeRun,
    loadingHistory,
    historyError,
    sendError,
    socketStatus,
    retryInMs,
    connected,
    model,
    agent,
    knowledge,
    connect,
    disconnect,
    retryNow,
    open,
    send,
    edit,
    regenerate,
    switchTo,
    rate,
    reload,
    stop,
    decide,
    reset,
    handleEvent,
  }
})
