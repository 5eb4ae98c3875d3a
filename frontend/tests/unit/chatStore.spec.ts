import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useAuthStore } from '@/stores/auth'
import { useChatStore } from '@/stores/chat'

/** A WebSocket double: the test plays the server. */
class FakeSocket {
  static OPEN = 1
  static instances: FakeSocket[] = []
  readyState = 0
  sent: Record<string, unknown>[] = []
  onopen: (() => void) | null = null
  onmessage: ((m: { data: string }) => void) | null = null
  onclose: ((c: { code: number }) => void) | null = null
  constructor(readonly url: string) {
    FakeSocket.instances.push(this)
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>)
  }
  close(): void {
    this.readyState = 3
  }
  open(): void {
    this.readyState = 1
    this.onopen?.()
  }
  emit(type: string, data: unknown, seq: number | null, runId: string | null = 'run-1'): void {
    this.onmessage?.({ data: JSON.stringify({ type, data, seq, run_id: runId, timestamp: '2026-01-01T00:00:00Z' }) })
  }
  drop(code = 1006): void {
    this.readyState = 3
    this.onclose?.({ code })
  }
}

const latest = () => FakeSocket.instances[FakeSocket.instances.length - 1]!
const timers: (() => void)[] = []
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
const USER = { id: 1, username: 'ann', email: null, role: 'user' as const, is_active: true, created_at: '2026-01-01T00:00:00Z' }
const CONVERSATION = { id: 'conv-1', title: 'Hi', model: null, agent: null, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' }
let eventLog: unknown[] = []
let requests: string[] = []
let stored: unknown[] = []

function message(id: number, role: 'user' | 'assistant', content: string, runId: string, parentId: number | null) {
  return { id, conversation_id: 'conv-1', parent_id: parentId, sibling_ids: [], role, content, tools_used: [], run_id: runId, created_at: '2026-01-01T00:00:00Z' }
}

function token(seq: number, text: string) {
  return { type: 'token', data: { text }, seq, run_id: 'run-1', timestamp: '2026-01-01T00:00:00Z' }
}

async function connectedStore() {
  const chat = useChatStore()
  chat.connect({ WebSocketImpl: FakeSocket as unknown as typeof WebSocket, schedule: (fn) => timers.push(fn), cancel: () => {} })
  latest().open()
  return chat
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

beforeEach(() => {
  setActivePinia(createPinia())
  FakeSocket.instances = []
  timers.length = 0
  eventLog = []
  requests = []
  stored = []
  vi.stubGlobal('fetch', async (request: Request) => {
    const url = new URL(request.url)
    requests.push(`${request.method} ${url.pathname}${url.search}`)
    if (request.method === 'POST' && url.pathname === '/api/v1/conversations') return json(CONVERSATION, 201)
    if (url.pathname === '/api/v1/conversations/conv-1') return json(CONVERSATION)
    if (url.pathname === '/api/v1/conversations/conv-1/messages') return json({ data: stored, count: stored.length })
    if (url.pathname === '/api/v1/runs/run-1/events') {
      const after = Number(url.searchParams.get('after') ?? 0)
      const data = eventLog.filter((e) => (e as { seq: number }).seq > after)
      return json({ data, count: data.length })
    }
    return json({ detail: 'Not Found' }, 404)
  })
})
afterEach(() => vi.unstubAllGlobals())

describe('chat store', () => {
  it('sends a message in a new conversation and streams the answer into a turn', async () => {
    const chat = await connectedStore()
    expect(latest().url).toMatch(/\/api\/v1\/chat\/ws$/) // the session cookie goes with it
    const id = await chat.send('  Hello there  ')
    expect(id).toBe('conv-1')
    expect(latest().sent).toEqual([{ message: 'Hello there', conversation_id: 'conv-1' }])

    latest().emit('token', { text: 'Hi' }, 1)
    latest().emit('token', { text: '!' }, 2)
    latest().emit('token', { text: '!' }, 2) // a duplicate
    const answer = chat.turns[1]!
    expect(chat.turns[0]).toMatchObject({ role: 'user', content: 'Hello there' })
    expect(answer.run).toMatchObject({ runId: 'run-1', content: 'Hi!', status: 'streaming' })
    expect(chat.activeRun).not.toBeNull()

    latest().emit('complete', { status: 'succeeded', content: 'Hi!', conversation_id: 'conv-1', message_id: 2, run_id: 'run-1', tools_used: [] }, 3)
    expect(answer.run!.status).toBe('complete')
    expect(chat.activeRun).toBeNull()
  })

  it('resumes after a reconnect from the last seq, without duplicates or gaps', async () => {
    const chat = await connectedStore()
    await chat.send('Count')
    latest().emit('token', { text: 'one ' }, 1)
    latest().emit('token', { text: 'two ' }, 2)
    latest().drop()
    expect(chat.socketStatus).toBe('reconnecting')
    expect(timers).toHaveLength(1)

    timers.shift()!() // the backoff elapses
    latest().open()
    expect(latest().sent).toEqual([{ type: 'resume', run_id: 'run-1', after: 2 }])
    // The server replays from its log (overlapping what we saw), then goes on live.
    latest().emit('token', { text: 'two ' }, 2)
    latest().emit('token', { text: 'three ' }, 3)
    latest().emit('token', { text: 'four' }, 4)
    expect(chat.turns[1]!.run!.content).toBe('one two three four')
  })

  it('fills a hole in seq from the run event log', async () => {
    const chat = await connectedStore()
    await chat.send('Count')
    eventLog = [token(1, 'a'), token(2, 'b'), token(3, 'c'), token(4, 'd')]
    latest().emit('token', { text: 'a' }, 1)
    latest().emit('token', { text: 'd' }, 4) // 2 and 3 never came
    latest().emit('token', { text: 'e' }, 5) // arrives while the hole is being fetched
    await flush()
    expect(requests).toContain('GET /api/v1/runs/run-1/events?after=1')
    expect(chat.turns[1]!.run!.content).toBe('abcde')
  })

  it('shows a tool card and sends the approval decision over the socket', async () => {
    const chat = await connectedStore()
    await chat.send('Delete the temp files')
    latest().emit('approval_required', { approval_id: 'ap-1', call_id: 'c1', tool: 'execute_command', params: { command: 'rm x' }, risk: 'high' }, 1)
    const run = chat.turns[1]!.run!
    await chat.decide(run, run.approvals[0]!, 'approve')
    expect(latest().sent.at(-1)).toEqual({ type: 'approval', approval_id: 'ap-1', decision: 'approve' })
    latest().emit('tool', { call_id: 'c1', name: 'execute_command', params: { command: 'rm x' }, status: 'started' }, 2)
    latest().emit('tool', { call_id: 'c1', name: 'execute_command', params: { command: 'rm x' }, status: 'finished', result: 'ok', duration_ms: 40 }, 3)
    expect(run.tools).toHaveLength(1)
    expect(run.tools[0]).toMatchObject({ status: 'finished', result: 'ok', durationMs: 40 })
    expect(run.approvals[0]!.decision).toBe('approve')
  })

  it('cancels a run as soon as the server names it', async () => {
    const chat = await connectedStore()
    await chat.send('Long task')
    chat.stop()
    expect(latest().sent).toHaveLength(1)
    latest().emit('token', { text: 'x' }, 1)
    expect(latest().sent.at(-1)).toEqual({ type: 'cancel', run_id: 'run-1' })
  })

  it('puts a refused message error on the turn that asked', async () => {
    const chat = await connectedStore()
    await chat.send('Hi')
    latest().emit('error', { message: 'model "nope" not found', code: 'model_not_found' }, null, null)
    expect(chat.turns[1]!.run).toMatchObject({ status: 'error', error: { code: 'model_not_found' } })
    expect(chat.activeRun).toBeNull()
  })

  it("keeps a failed run's error under its stored question, through later answers and reloads", async () => {
    const chat = await connectedStore()
    await chat.send('Are you there?')
    stored = [message(1, 'user', 'Are you there?', 'run-1', null)] // a failed run stores only the question
    latest().emit('error', { message: 'the model server answered HTTP 500', code: 'model_error' }, 1)
    await flush()
    expect(requests).toContain('GET /api/v1/conversations/conv-1/messages')
    expect(chat.turns.map((t) => [t.role, t.id])).toEqual([['user', 1], ['assistant', undefined]])
    expect(chat.turns[1]!.run).toMatchObject({ runId: 'run-1', status: 'error', error: { code: 'model_error' } })

    await chat.send('Now?')
    stored = [...stored, message(2, 'user', 'Now?', 'run-2', 1), message(3, 'assistant', 'Yes.', 'run-2', 2)]
    latest().emit('complete', { status: 'succeeded', content: 'Yes.', conversation_id: 'conv-1', message_id: 3, run_id: 'run-2', tools_used: [] }, 1, 'run-2')
    await flush()
    expect(chat.turns.map((t) => [t.role, t.id, t.run?.status ?? null])).toEqual([
      ['user', 1, null],
      ['assistant', undefined, 'error'],
      ['user', 2, null],
      ['assistant', 3, 'complete'],
    ])
  })

  it('forgets a refused message when the next one is sent', async () => {
    const chat = await connectedStore()
    await chat.send('Hi')
    latest().emit('error', { message: 'model "nope" not found', code: 'model_not_found' }, null, null)
    await flush()
    expect(chat.turns.map((t) => t.run?.status ?? t.role)).toEqual(['user', 'error']) // never stored: still shown
    await chat.send('Hello')
    expect(chat.turns.map((t) => t.content)).toEqual(['Hello', ''])
  })

  it('refuses to send while disconnected, and signs out when the session cannot be renewed', async () => {
    const chat = await connectedStore()
    useAuthStore().user = USER
    latest().drop(4401)
    await flush()
    expect(requests).toContain('POST /api/v1/auth/refresh')
    expect(useAuthStore().user).toBeNull()
    expect(await chat.send('Hi')).toBeNull()
    expect(chat.sendError).toMatch(/not connected/i)
    expect(timers).toHaveLength(0)
  })
})
