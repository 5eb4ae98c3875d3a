import { describe, expect, it } from 'vitest'
import type { ServerEvent } from '@/api/events'
import { applyTimelineEvent, isLive, newTimeline, openApprovals, phaseStepper, type RunTimeline } from '@/lib/runTimeline'

const RUN = 'run-1'
function ev(type: string, data: unknown, seq: number | null): ServerEvent {
  return { type, data, seq, run_id: RUN, timestamp: '2026-01-01T00:00:00Z' } as ServerEvent
}

/** A passing workflow: spec, a two-step plan (a tool call in step 1), verify, complete. */
function workflow(): ServerEvent[] {
  const events: [string, unknown][] = [
    ['status', { status: 'running' }],
    ['phase', { phase: 'spec', status: 'started' }],
    ['phase', { phase: 'spec', status: 'finished', output: { goal: 'Sum', acceptance_criteria: ['is 3'] } }],
    ['phase', { phase: 'plan', status: 'started' }],
    ['phase', { phase: 'plan', status: 'finished', output: { steps: [{ title: 'Add', instruction: 'add' }, { title: 'Say', instruction: 'say' }] } }],
    ['phase', { phase: 'execute', status: 'started', output: { steps: [1, 2] } }],
    ['step', { index: 1, title: 'Add', status: 'started' }],
    ['thinking', { text: 'use the tool' }],
    ['tool', { call_id: 'c1', name: 'calculate', params: { expression: '1+2' }, status: 'started' }],
    ['tool', { call_id: 'c1', name: 'calculate', params: { expression: '1+2' }, status: 'finished', result: '3', duration_ms: 4 }],
    ['token', { text: '1+2 = ' }],
    ['token', { text: '3' }],
    ['step', { index: 1, title: 'Add', status: 'finished', result: '1+2 = 3' }],
    ['step', { index: 2, title: 'Say', status: 'started' }],
    ['token', { text: 'The sum is 3' }],
    ['step', { index: 2, title: 'Say', status: 'finished', result: 'The sum is 3' }],
    ['phase', { phase: 'execute', status: 'finished', output: { completed: 2 } }],
    ['phase', { phase: 'verify', status: 'started' }],
    ['phase', { phase: 'verify', status: 'finished', output: { passed: true, failed_steps: [], notes: 'ok' } }],
    ['complete', { status: 'succeeded', content: '# Sum\n\npassed', run_id: RUN, tools_used: ['calculate'] }],
  ]
  return events.map(([type, data], i) => ev(type, data, i + 1))
}

function play(events: ServerEvent[], timeline: RunTimeline = newTimeline(RUN)): RunTimeline {
  for (const e of events) applyTimelineEvent(timeline, e)
  return timeline
}

describe('applyTimelineEvent', () => {
  it('builds phases, steps and the report of a whole workflow', () => {
    const t = play(workflow())
    expect(t.phases.map((p) => `${p.phase}:${p.status}`)).toEqual(['spec:finished', 'plan:finished', 'execute:finished', 'verify:finished'])
    expect(t.phases[0]!.output).toEqual({ goal: 'Sum', acceptance_criteria: ['is 3'] })
    const steps = t.phases[2]!.steps
    expect(steps.map((s) => [s.index, s.title, s.status])).toEqual([
      [1, 'Add', 'finished'],
      [2, 'Say', 'finished'],
    ])
    expect(steps[0]!.thinking).toBe('use the tool')
    expect(steps[0]!.text).toBe('1+2 = 3')
    expect(steps[0]!.tools).toMatchObject([{ name: 'calculate', status: 'finished', result: '3', durationMs: 4 }])
    expect(steps[1]!.text).toBe('The sum is 3')
    expect(steps[1]!.tools).toEqual([])
    expect(t.status).toBe('succeeded')
    expect(t.report).toEqual({ status: 'succeeded', content: '# Sum\n\npassed', toolsUsed: ['calculate'] })
    expect(isLive(t)).toBe(false)
    expect(t.loose.text).toBe('')
  })

  it('applies each seq once: a replay after a reconnect changes nothing', () => {
    const events = workflow()
    const t = play(events.slice(0, 12))
    const again = play([...events.slice(5, 12), ...events.slice(12)], t) // the server replays from an older seq
    expect(again.phases[2]!.steps[0]!.text).toBe('1+2 = 3')
    expect(again.phases[2]!.steps[0]!.tools).toHaveLength(1)
    expect(again.phases).toHaveLength(4)
    expect(applyTimelineEvent(again, events[3]!)).toBe('duplicate')
    expect(again).toEqual(play(workflow()))
  })

  it('refuses an event past a hole, unless told to accept it', () => {
    const events = workflow()
    const t = play(events.slice(0, 3))
    expect(applyTimelineEvent(t, events[4]!)).toBe('gap')
    expect(t.phases).toHaveLength(1)
    expect(applyTimelineEvent(t, events[4]!, true)).toBe('applied')
    expect(t.lastSeq).toBe(5)
  })

  it('keeps one entry when a resumed run announces its phase and step again', () => {
    const events = workflow().slice(0, 12)
    const t = play(events)
    let seq = t.lastSeq
    play([ev('phase', { phase: 'execute', status: 'started', output: { steps: [1, 2] } }, ++seq), ev('step', { index: 1, title: 'Add', status: 'started' }, ++seq)], t)
    expect(t.phases.filter((p) => p.phase === 'execute')).toHaveLength(1)
    expect(t.phases[2]!.steps).toHaveLength(1)
    expect(t.phases[2]!.steps[0]!.tools).toHaveLength(1)
  })

  it('runs EXECUTE and VERIFY again after a REPAIR, as new rounds', () => {
    const base = workflow().slice(0, 18) // up to verify started
    const t = play(base)
    let seq = t.lastSeq
    play(
      [
        ev('phase', { phase: 'verify', status: 'finished', output: { passed: false, failed_steps: [2], notes: 'wrong' } }, ++seq),
        ev('phase', { phase: 'repair', status: 'started' }, ++seq),
        ev('phase', { phase: 'repair', status: 'finished', output: { steps: [{ title: 'Fix', instruction: 'fix' }] } }, ++seq),
        ev('phase', { phase: 'execute', status: 'started', output: { steps: [3] } }, ++seq),
        ev('step', { index: 3, title: 'Fix', status: 'started' }, ++seq),
      ],
      t,
    )
    expect(t.phases.map((p) => p.key)).toEqual(['spec-1', 'plan-1', 'execute-1', 'verify-1', 'repair-1', 'execute-2'])
    expect(t.phases[5]!.steps.map((s) => s.index)).toEqual([3])
    const stepper = Object.fromEntries(phaseStepper(t).map((s) => [s.phase, [s.state, s.runs]]))
    expect(stepper).toEqual({ spec: ['done', 1], plan: ['done', 1], execute: ['active', 2], verify: ['failed', 1], repair: ['done', 1] })
  })

  it('puts approvals on the step under way and settles them when the run ends', () => {
    const t = play(workflow().slice(0, 7))
    let seq = t.lastSeq
    play([ev('approval_required', { approval_id: 'a1', call_id: 'c9', tool: 'execute_command', params: { command: 'ls' }, risk: 'exec' }, ++seq), ev('status', { status: 'waiting' }, ++seq)], t)
    expect(t.phases[2]!.steps[0]!.approvals).toMatchObject([{ approvalId: 'a1', tool: 'execute_command' }])
    expect(openApprovals(t)).toHaveLength(1)
    expect(t.status).toBe('waiting')
    play([ev('complete', { status: 'cancelled', content: '', run_id: RUN }, ++seq)], t)
    expect(openApprovals(t)).toHaveLength(0)
    expect(t.status).toBe('cancelled')
    expect(phaseStepper(t).map((s) => s.state)).toEqual(['done', 'done', 'failed', 'skipped', 'skipped'])
  })

  it('keeps a chat agent run (no phases) in the loose activity, with its error', () => {
    const t = play([
      ev('status', { status: 'running' }, 1),
      ev('token', { text: 'Hi' }, 2),
      ev('error', { message: 'model down', code: 'model_error' }, 3),
      ev('complete', { status: 'failed', content: 'Hi', run_id: RUN }, 4),
    ])
    expect(t.phases).toEqual([])
    expect(t.loose.text).toBe('Hi')
    expect(t.error).toEqual({ message: 'model down', code: 'model_error' })
    expect(t.status).toBe('failed')
  })

  it('keeps an ended run ended while its log replays', () => {
    const t = newTimeline(RUN, 'succeeded') // the run row said so before the socket replayed
    const events = workflow()
    for (const e of events.slice(0, -1)) {
      applyTimelineEvent(t, e)
      expect(isLive(t)).toBe(false)
    }
    applyTimelineEvent(t, events[events.length - 1]!)
    expect(t.status).toBe('succeeded')
  })

  it('shows pending phases while live and skipped ones once over', () => {
    const t = play(workflow().slice(0, 4))
    expect(phaseStepper(t).map((s) => s.state)).toEqual(['done', 'active', 'pending', 'pending', 'pending'])
    const done = play(workflow())
    expect(phaseStepper(done).map((s) => s.state)).toEqual(['done', 'done', 'done', 'done', 'skipped'])
  })
})
