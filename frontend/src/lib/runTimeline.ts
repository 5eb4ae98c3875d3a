/**
 * How an autonomous run's event log becomes its timeline: phases in the order they ran
 * (EXECUTE and VERIFY again after a REPAIR), the steps of each EXECUTE, and under each step
 * its thinking, text, tool cards and approvals. Pure functions on plain objects, with the
 * chat reducer's rules: each `seq` is applied once, and an event past a hole is refused.
 */
import {
  PHASES,
  type ErrorData,
  type PhaseData,
  type PhaseName,
  type ServerEvent,
  type StepData,
} from '@/api/events'
import { isRunStatus, type RunStatus } from '@/api/contract'
import { applyApproval, applyTool, type ApplyResult, type ApprovalView, type ToolCallView } from './runReducer'

/** What an agent did in one place: a step, or the run itself when it has no steps. */
export interface Activity {
  text: string
  thinking: string
  tools: ToolCallView[]
  approvals: ApprovalView[]
}

export interface StepEntry extends Activity {
  key: string
  index: number
  title: string
  status: StepData['status']
  result?: string
}

export interface PhaseEntry {
  key: string
  phase: PhaseName
  /** 1 the first time this phase ran, 2 after a repair, ... */
  attempt: number
  status: 'started' | 'finished'
  output?: unknown
  steps: StepEntry[]
}

export interface RunReport {
  status: RunStatus
  content: string
  toolsUsed: string[]
}

export interface RunTimeline {
  runId: string
  lastSeq: number
  status: RunStatus
  reason?: string
  phases: PhaseEntry[]
  /** Activity outside any step (a chat agent's run, which has no phases). */
  loose: Activity
  error?: ErrorData
  report?: RunReport
}

const FINAL: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled']

function newActivity(): Activity {
  return { text: '', thinking: '', tools: [], approvals: [] }
}

export function newTimeline(runId: string, status: RunStatus = 'queued'): RunTimeline {
  return { runId, lastSeq: 0, status, phases: [], loose: newActivity() }
}

/** The run can still change: no `complete` yet and not in a final status. */
export function isLive(timeline: RunTimeline): boolean {
  return !timeline.report && !FINAL.includes(timeline.status)
}

/** Applies one event in `seq` order ('gap' when events are missing before it; see runReducer). */
export function applyTimelineEvent(timeline: RunTimeline, event: ServerEvent, acceptGap = false): ApplyResult {
  const seq = typeof event.seq === 'number' ? event.seq : null
  if (seq !== null) {
    if (seq <= timeline.lastSeq) return 'duplicate'
    if (!acceptGap && seq > timeline.lastSeq + 1) return 'gap'
    timeline.lastSeq = seq
  }
  switch (event.type) {
    case 'token':
      currentActivity(timeline).text += event.data.text
      break
    case 'thinking':
      currentActivity(timeline).thinking += event.data.text
      break
    case 'tool':
      applyTool(currentActivity(timeline), event.data)
      break
    case 'approval_required':
      applyApproval(currentActivity(timeline), event.data)
      break
    case 'phase':
      applyPhase(timeline, event.data)
      break
    case 'step':
      applyStep(timeline, event.data)
      break
    case 'status':
      // A final status is for good: replaying an ended run's log must not make it look live.
      if (FINAL.includes(timeline.status)) break
      if (isRunStatus(event.data.status)) timeline.status = event.data.status
      timeline.reason = event.data.reason ?? undefined
      break
    case 'error':
      timeline.error = { message: event.data.message, code: event.data.code, reset_at: event.data.reset_at }
      break
    case 'complete': {
      const status = event.data.status && isRunStatus(event.data.status) ? event.data.status : 'succeeded'
      timeline.status = status
      timeline.report = {
        status,
        content: event.data.content ?? '',
        toolsUsed: (event.data.tools_used ?? []).map((t) => (typeof t === 'string' ? t : JSON.stringify(t))),
      }
      for (const approval of allApprovals(timeline)) approval.decision ??= 'deny'
      break
    }
    case 'unknown':
      break
  }
  return 'applied'
}

function lastPhase(timeline: RunTimeline): PhaseEntry | undefined {
  return timeline.phases[timeline.phases.length - 1]
}

function lastOf(timeline: RunTimeline, phase: PhaseName): PhaseEntry | undefined {
  for (let i = timeline.phases.length - 1; i >= 0; i--) {
    const entry = timeline.phases[i]
    if (entry?.phase === phase) return entry
  }
  return undefined
}

/** Where text and tool calls go: the step under way, else the run itself. */
function currentActivity(timeline: RunTimeline): Activity {
  const steps = lastPhase(timeline)?.steps ?? []
  const step = steps[steps.length - 1]
  return step && step.status === 'started' ? step : timeline.loose
}

function isPhase(value: string): value is PhaseName {
  return (PHASES as readonly string[]).includes(value)
}

function pushPhase(timeline: RunTimeline, phase: PhaseName, status: PhaseEntry['status']): PhaseEntry {
  const attempt = timeline.phases.filter((p) => p.phase === phase).length + 1
  timeline.phases.push({ key: `${phase}-${attempt}`, phase, attempt, status, steps: [] })
  return timeline.phases[timeline.phases.length - 1]!
}

function applyPhase(timeline: RunTimeline, data: PhaseData): void {
  if (!isPhase(data.phase)) return
  const last = lastOf(timeline, data.phase)
  if (data.status === 'finished') {
    const entry = last && last.status === 'started' ? last : pushPhase(timeline, data.phase, 'finished')
    entry.status = 'finished'
    if (data.output !== undefined && data.output !== null) entry.output = data.output
    return
  }
  // A run resumed after a restart announces the phase it was in again: same entry.
  if (last && last.status === 'started' && last === lastPhase(timeline)) return
  pushPhase(timeline, data.phase, 'started')
}

function applyStep(timeline: RunTimeline, data: StepData): void {
  const phase = lastOf(timeline, 'execute') ?? pushPhase(timeline, 'execute', 'started')
  let step = phase.steps.find((s) => s.index === data.index)
  if (!step) {
    phase.steps.push({ ...newActivity(), key: `${phase.key}-step-${data.index}`, index: data.index, title: data.title, status: data.status })
    step = phase.steps[phase.steps.length - 1]!
  }
  step.status = data.status
  if (data.title) step.title = data.title
  if (data.result != null) step.result = data.result
}

function allApprovals(timeline: RunTimeline): ApprovalView[] {
  const steps = timeline.phases.flatMap((p) => p.steps)
  return [...timeline.loose.approvals, ...steps.flatMap((s) => s.approvals)]
}

/** Approvals still waiting for a decision, wherever they are. */
export function openApprovals(timeline: RunTimeline): ApprovalView[] {
  return allApprovals(timeline).filter((a) => !a.decision)
}

export type PhaseState = 'pending' | 'active' | 'done' | 'failed' | 'skipped'

export interface StepperItem {
  phase: PhaseName
  state: PhaseState
  /** How many times it ran (EXECUTE and VERIFY run again after a REPAIR). */
  runs: number
}

/** The SPEC -> PLAN -> EXECUTE -> VERIFY -> REPAIR stepper, from the phases seen so far. */
export function phaseStepper(timeline: RunTimeline): StepperItem[] {
  const live = isLive(timeline)
  return PHASES.map((phase) => {
    const entries = timeline.phases.filter((p) => p.phase === phase)
    const last = entries[entries.length - 1]
    let state: PhaseState
    if (!last) state = live ? 'pending' : 'skipped'
    else if (last.status === 'started') state = live ? 'active' : 'failed'
    else if (phase === 'verify' && (last.output as { passed?: boolean } | undefined)?.passed === false) state = 'failed'
    else if (last.steps.some((s) => s.status === 'failed')) state = 'failed'
    else state = 'done'
    return { phase, state, runs: entries.length }
  })
}
