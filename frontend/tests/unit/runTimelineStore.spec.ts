import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { useRunTimelineStore } from '@/stores/runTimeline'

/** A WebSocket double: the test plays the server. */
class FakeSocket {
  static OPEN = 1
  static instances: FakeSocket[] = []
  readyState = 0
  sent: Record<string, unknown>[] = []
  closed = false
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
    this.closed = true
    this.readyState = 3
  }
  open(): void {
    this.readyState = 1
    this.onopen?.()
  }
  emit(seq: number): void {
    this.onmessage?.({ data: JSON.stringify(LOG[seq - 1]) })
  }
  drop(): void {
    this.readyState = 3
    this.onclose?.({ code: 1006 })
  }
}

const event = (seq: number, type: string, data: unknown) => ({ type, data, seq, run_id: 'run-1', timestamp: '2026-01-01T00:00:00Z' })
const LOG = [
  event(1, 'phase', { phase: 'spec', status: 'started' }),
  event(2, 'phase', { phase: 'spec', status: 'finished', output: { goal: 'g', acceptance_criteria: [] } }),
  event(3, 'phase', { phase: 'plan', status: 'started' }),
  event(4, 'phase', { phase: 'plan', status: 'finished', output: { steps: [{ title: 'One', instruction: 'do' }] } }),
  event(5, 'phase', { phase: 'execute', status: 'started' }),
  event(6, 'step', { index: 1, title: 'One', status: 'started' }),
  event(7, 'token', { text: 'Hel' }),
  event(8, 'token', { text: 'lo' }),
  event(9, 'step', { index: 1, title: 'One', status: 'finished', result: 'Hello' }),
  event(10, 'complete', { status: 'succeeded', content: 'Report', run_id: 'run-1', tools_used: [] }),
]
const RUN = { id: 'run-1', kind: 'workflow', goal: 'g', agent: 'planner', model: null, status: 'running', phase: null, result: null, error: null, conversation_id: null, parent_run_id: null, last_seq: 0, created_at: '2026-01-01T00:00:00Z', started_at: null, finished_at: null }
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
const latest = () => FakeSocket.instances[FakeSocket.instances.length - 1]!
const timers: (() => void)[] = []
let requests: string[] = []

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}

async function openRun() {
  const store = useRunTimelineStore()
  await store.open('run-1', { WebSocketImpl: FakeSocket as unknown as typeof WebSocket, schedule: (fn) => timers.push(fn), cancel: () => {} })
  latest().open()
  return store
}

beforeEach(() => {
  setActivePinia(createPinia())
  FakeSocket.instances = []
  timers.length = 0
  requests = []
  vi.stubGlobal('fetch', async (request: Request) => {
    const url = new URL(request.url)
    requests.push(`${request.method} ${url.pathname}${url.search}`)
    if (url.pathname === '/api/v1/runs/run-1') return json(RUN)
    if (url.pathname === '/api/v1/runs/run-1/cancel') return json({ ...RUN, status: 'cancelled' })
    if (url.pathname === '/api/v1/runs/run-1/events') {
      const after = Number(url.searchParams.get('after') ?? 0)
      const data = LOG.filter((e) => e.seq > after)
      return json({ data, count: data.length })
    }
    return json({ detail: 'Not Found' }, 404)
  })
})
afterEach(() => vi.unstubAllGlobals())

describe('run timeline store', () => {
  it('loads the run, follows its socket from seq 0 and closes it after complete', async () => {
    const store = await openRun()
    expect(store.run?.goal).toBe('g')
    expect(latest().url).toMatch(/\/api\/v1\/runs\/run-1\/ws\?after=0$/)
    for (let seq = 1; seq <= 8; seq++) latest().emit(seq)
    expect(store.timeline?.phases.map((p) => p.phase)).toEqual(['spec', 'plan', 'execute'])
    expect(store.timeline?.phases[2]?.steps[0]?.text).toBe('Hello')
    expect(store.live).toBe(true)
    latest().emit(9)
    latest().emit(10)
    expect(store.live).toBe(false)
    expect(store.timeline?.report?.content).toBe('Report')
    expect(latest().closed).toBe(true)
  })

  it('reconnects after the last seq it saw and ignores what the server sends twice', async () => {
    const store = await openRun()
    for (let seq = 1; seq <= 7; seq++) latest().emit(seq)
    latest().drop()
    expect(store.socketStatus).toBe('reconnecting')
    timers.shift()!()
    expect(latest().url).toMatch(/after=7$/)
    latest().open()
    for (let seq = 6; seq <= 9; seq++) latest().emit(seq) // an overlap the reducer must drop
    expect(store.timeline?.phases[2]?.steps).toHaveLength(1)
    expect(store.timeline?.phases[2]?.steps[0]?.text).toBe('Hello')
    expect(store.timeline?.lastSeq).toBe(9)
  })

  it('fills a hole from the event log before applying what came after it', async () => {
    const store = await openRun()
    latest().emit(1)
    latest().emit(5) // 2-4 lost
    latest().emit(6)
    await flush()
    expect(requests).toContain('GET /api/v1/runs/run-1/events?after=1')
    expect(store.timeline?.lastSeq).toBe(10) // the log had everything
    expect(store.timeline?.phases.map((p) => p.phase)).toEqual(['spec', 'plan', 'execute'])
    expect(store.timeline?.report?.status).toBe('succeeded')
  })

  it('cancels over the socket, or over HTTP when the socket is down', async () => {
    const store = await openRun()
    latest().emit(1)
    await store.cancel()
    expect(latest().sent).toEqual([{ type: 'cancel', run_id: 'run-1' }])
    expect(store.cancelling).toBe(true)
    latest().drop()
    await store.cancel()
    expect(requests).toContain('POST /api/v1/runs/run-1/cancel')
  })

  it('sends approval decisions on the socket', async () => {
    const store = await openRun()
    latest().onmessage?.({ data: JSON.stringify(event(1, 'approval_required', { approval_id: 'a1', tool: 'execute_command', params: {}, risk: 'exec' })) })
    const approval = store.timeline!.loose.approvals[0]!
    await store.decide(approval, 'approve')
    expect(latest().sent).toEqual([{ type: 'approval', approval_id: 'a1', decision: 'approve' }])
    expect(store.timeline!.loose.approvals[0]!.decision).toBe('approve')
  })

  it('replays the whole log of an ended run, then stops following it', async () => {
    RUN.status = 'succeeded'
    try {
      const store = await openRun()
      expect(store.live).toBe(false)
      for (let seq = 1; seq <= 9; seq++) latest().emit(seq)
      expect(latest().closed).toBe(false)
      expect(store.timeline?.phases[2]?.steps[0]?.text).toBe('Hello')
      latest().emit(10)
      expect(latest().closed).toBe(true)
      expect(store.timeline?.report?.content).toBe('Report')
    } finally {
      RUN.status = 'running'
    }
  })

  it('says so when the run does not exist', async () => {
    const store = useRunTimelineStore()
    await store.open('nope', { WebSocketImpl: FakeSocket as unknown as typeof WebSocket })
    expect(store.loadError).toBe('Not Found')
    expect(FakeSocket.instances).toHaveLength(0)
  })
})
