/**
 * How one run's stream of events becomes what the chat shows: text, thinking, tool cards,
 * approvals. Pure functions on plain objects, so the rules (dedupe by seq, gap detection,
 * a tool card's life from started to finished) are tested without a socket or a DOM.
 */
import {
  type ApprovalRequiredData,
  type Citation,
  type CompleteData,
  type ErrorData,
  type ServerEvent,
  type TaintSource,
  type ToolEventData,
  type ToolStatus,
} from '@/api/events'

export type RunStatus = 'streaming' | 'complete' | 'error' | 'cancelled'

export interface ToolCallView {
  key: string
  callId?: string
  name: string
  params: Record<string, unknown>
  status: ToolStatus
  result?: unknown
  durationMs?: number
}

export interface ApprovalView {
  approvalId: string
  callId?: string
  tool: string
  params: Record<string, unknown>
  risk: string
  /** The untrusted content the run read before asking (a web page, an MCP result...). */
  taintedBy?: TaintSource
  decision?: 'approve' | 'deny'
}

export interface RunView {
  runId: string | null
  /** Highest `seq` applied; 0 before any. Events at or below it are duplicates. */
  lastSeq: number
  content: string
  thinking: string
  tools: ToolCallView[]
  approvals: ApprovalView[]
  phase?: string
  status: RunStatus
  error?: ErrorData
  conversationId?: string
  messageId?: number | string
  cancelRequested?: boolean
  /** The run waits for an approval (its `status` event said so). */
  waiting?: boolean
  /** Passages the answer cites as [n] (from `complete`). */
  citations?: Citation[]
}

/** Whatever holds tool cards and their approvals: a chat turn's run, a workflow step. */
export type ToolHolder = Pick<RunView, 'tools' | 'approvals'>

/** What `applyEvent` did: used, ignored as already seen, or refused because events are missing. */
export type ApplyResult = 'applied' | 'duplicate' | 'gap'

export function newRun(runId: string | null = null): RunView {
  return { runId, lastSeq: 0, content: '', thinking: '', tools: [], approvals: [], status: 'streaming' }
}

/**
 * Applies one event in `seq` order. An event past a hole is refused ('gap') so the caller
 * can fetch the hole from the run's event log; `acceptGap` applies it anyway (no log to ask).
 */
export function applyEvent(run: RunView, event: ServerEvent, acceptGap = false): ApplyResult {
  const seq = typeof event.seq === 'number' ? event.seq : null
  if (seq !== null) {
    if (seq <= run.lastSeq) return 'duplicate'
    if (!acceptGap && seq > run.lastSeq + 1) return 'gap'
    run.lastSeq = seq
  }
  if (event.run_id && !run.runId) run.runId = event.run_id

  switch (event.type) {
    case 'token':
      run.content += event.data.text
      break
    case 'thinking':
      run.thinking += event.data.text
      break
    case 'tool':
      applyTool(run, event.data)
      break
    case 'approval_required':
      applyApproval(run, event.data)
      break
    case 'phase':
      run.phase = event.data.phase
      break
    case 'complete':
      applyComplete(run, event.data)
      break
    case 'error':
      run.error = { message: event.data.message, code: event.data.code, reset_at: event.data.reset_at }
      run.status = 'error'
      break
    case 'status':
      run.waiting = event.data.status === 'waiting'
      break
    case 'step':
    case 'unknown':
      break
  }
  return 'applied'
}

/** A tool event: a new card, or the update of the card it belongs to (settling its approval). */
export function applyTool(run: ToolHolder, data: ToolEventData): void {
  const card = findCard(run.tools, data)
  if (!card) {
    run.tools.push({
      key: data.call_id ?? `${data.name}#${run.tools.length}`,
      callId: data.call_id,
      name: data.name,
      params: data.params ?? {},
      status: data.status,
      result: data.result ?? undefined,
      durationMs: data.duration_ms ?? undefined,
    })
  } else {
    card.status = data.status
    if (data.params && Object.keys(card.params).length === 0) card.params = data.params
    if (data.result != null) card.result = data.result
    if (data.duration_ms != null) card.durationMs = data.duration_ms
  }
  if (data.status !== 'started') settleApproval(run, data, data.status === 'denied' ? 'deny' : 'approve')
}

/** The card an update belongs to: same call id, else the newest unfinished call of that tool. */
function findCard(cards: ToolCallView[], data: ToolEventData): ToolCallView | undefined {
  if (data.call_id) return cards.find((c) => c.callId === data.call_id)
  if (data.status === 'started') return undefined
  for (let i = cards.length - 1; i >= 0; i--) {
    const card = cards[i]
    if (card && card.name === data.name && card.status === 'started') return card
  }
  return undefined
}

export function applyApproval(run: ToolHolder, data: ApprovalRequiredData): void {
  if (run.approvals.some((a) => a.approvalId === data.approval_id)) return
  run.approvals.push({
    approvalId: data.approval_id,
    callId: data.call_id,
    tool: data.tool,
    params: data.params ?? {},
    risk: data.risk ?? 'high',
    taintedBy: data.tainted_by ?? undefined,
  })
}

/** A tool that ran or was denied settles its open approval, whoever decided it. */
function settleApproval(run: ToolHolder, call: ToolEventData, decision: 'approve' | 'deny'): void {
  const open = run.approvals.find(
    (a) => !a.decision && (a.callId && call.call_id ? a.callId === call.call_id : a.tool === call.name),
  )
  if (open) open.decision = decision
}

function applyComplete(run: RunView, data: CompleteData): void {
  run.waiting = false
  if (typeof data.content === 'string' && data.content) run.content = data.content
  if (data.conversation_id) run.conversationId = data.conversation_id
  if (data.message_id != null) run.messageId = data.message_id
  if (data.run_id && !run.runId) run.runId = data.run_id
  if (Array.isArray(data.citations)) run.citations = data.citations
  if (data.status === 'cancelled') run.status = 'cancelled'
  else if (data.status === 'failed') run.status = 'error'
  else if (run.status !== 'error' || data.status === 'succeeded') run.status = 'complete'
  for (const approval of run.approvals) approval.decision ??= 'deny'
}

export function isActive(run: RunView): boolean {
  return run.status === 'streaming'
}

/** Tool cards for an answer loaded from history (`tools_used` items may be names or records). */
export function toolsFromHistory(toolsUsed: unknown[]): ToolCallView[] {
  return toolsUsed.map((item, i) => {
    if (typeof item === 'string') return { key: `${item}#${i}`, name: item, params: {}, status: 'finished' }
    const record = (item ?? {}) as Partial<ToolEventData> & { tool?: string; arguments?: Record<string, unknown> }
    const status = record.status ?? 'finished'
    return {
      key: record.call_id ?? `h${i}`,
      callId: record.call_id,
      name: record.name ?? record.tool ?? 'tool',
      params: record.params ?? record.arguments ?? {},
      status: (['started', 'finished', 'denied', 'failed'] as const).includes(status) ? status : 'finished',
      result: record.result ?? undefined,
      durationMs: record.duration_ms ?? undefined,
    }
  })
}
