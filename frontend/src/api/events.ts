/** The WebSocket protocol of /api/v1/chat/ws and /api/v1/runs/{id}/ws (DESIGN.md), as the browser sees it. */

export type ToolStatus = 'started' | 'finished' | 'denied' | 'failed'

export interface TokenData {
  text?: string
  content?: string
  delta?: string
}

export interface ToolEventData {
  name: string
  params?: Record<string, unknown>
  status: ToolStatus
  result?: unknown
  duration_ms?: number | null
  call_id?: string
}

export interface ApprovalRequiredData {
  approval_id: string
  call_id?: string
  tool: string
  params?: Record<string, unknown>
  risk?: string
  /** Set when the run read untrusted content: the call that brought it in. */
  tainted_by?: TaintSource | null
}

export interface TaintSource {
  tool: string
  source?: string | null
}

export const PHASES = ['spec', 'plan', 'execute', 'verify', 'repair'] as const
export type PhaseName = (typeof PHASES)[number]

export interface PhaseData {
  phase: string
  status?: string
  output?: unknown
}

/** A workflow step began or ended (EXECUTE phase); `index` is 1-based. */
export interface StepData {
  index: number
  title: string
  status: 'started' | 'finished' | 'failed'
  result?: string | null
}

/** What the structured phases answer (`phase` finished events' `output`). */
export interface SpecOutput {
  goal: string
  acceptance_criteria: string[]
}
export interface PlanOutput {
  steps: { title: string; instruction: string }[]
}
export interface VerifyOutput {
  passed: boolean
  failed_steps: number[]
  notes: string
}

export interface StatusData {
  status: string
  reason?: string | null
}

/** A passage an answer cites as [n]. */
export interface Citation {
  n: number
  document_id: string
  filename: string
  chunk_id: string
  page?: number | null
  heading?: string | null
  collection_id?: string | null
  text?: string
}

export interface CompleteData {
  citations?: Citation[]
  content?: string
  conversation_id?: string
  message_id?: number | string
  run_id?: string
  tools_used?: unknown[]
  status?: string
}

export interface ErrorData {
  message: string
  code?: string
}

interface Envelope<T extends string, D> {
  type: T
  data: D
  timestamp?: string
  run_id?: string | null
  seq?: number | null
}

export type ServerEvent =
  | Envelope<'token', TokenData | string>
  | Envelope<'thinking', TokenData | string>
  | Envelope<'tool', ToolEventData>
  | Envelope<'approval_required', ApprovalRequiredData>
  | Envelope<'phase', PhaseData>
  | Envelope<'step', StepData>
  | Envelope<'complete', CompleteData>
  | Envelope<'error', ErrorData>
  | Envelope<'status', StatusData>
  /** A type this client does not know: only its `seq` matters (it still counts in the order). */
  | Envelope<'unknown', unknown>

export type ClientMessage =
  | { message: string; conversation_id?: string; model?: string; agent?: string; knowledge?: string[] }
  | { type: 'cancel'; run_id: string }
  | { type: 'approval'; approval_id: string; decision: 'approve' | 'deny' }
  | { type: 'resume'; run_id: string; after: number }

const KNOWN = new Set(['token', 'thinking', 'tool', 'approval_required', 'phase', 'step', 'complete', 'error', 'status'])

/** Parses one socket frame (or event-log row); null for what is not an event at all. */
export function parseEvent(raw: string): ServerEvent | null {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return null
  }
  if (!value || typeof value !== 'object') return null
  const type = (value as { type?: unknown }).type
  if (typeof type !== 'string') return null
  if (!KNOWN.has(type)) return { ...(value as object), type: 'unknown', data: null } as ServerEvent
  return value as ServerEvent
}

/** The text of a token or thinking delta, whichever key the server used. */
export function deltaText(data: TokenData | string): string {
  if (typeof data === 'string') return data
  return data.text ?? data.content ?? data.delta ?? ''
}
