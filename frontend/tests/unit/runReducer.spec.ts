import { describe, expect, it } from 'vitest'
import type { ServerEvent } from '@/api/events'
import { applyEvent, newRun, toolsFromHistory } from '@/lib/runReducer'

const RUN = 'run-1'
let clock = 0
function ev(type: string, data: unknown, seq: number | null = ++clock): ServerEvent {
  return { type, data, seq, run_id: RUN, timestamp: '2026-01-01T00:00:00Z' } as ServerEvent
}

describe('applyEvent', () => {
  it('accumulates token and thinking deltas in order', () => {
    const run = newRun()
    applyEvent(run, ev('thinking', { text: 'Let me ' }, 1))
    applyEvent(run, ev('thinking', { text: 'see' }, 2))
    applyEvent(run, ev('token', { text: 'Hello' }, 3))
    applyEvent(run, ev('token', { text: ', world' }, 4))
    expect(run.thinking).toBe('Let me see')
    expect(run.content).toBe('Hello, world')
    expect(run.runId).toBe(RUN)
    expect(run.lastSeq).toBe(4)
    expect(run.status).toBe('streaming')
  })

  it('ignores an event it has already applied (same seq)', () => {
    const run = newRun()
    expect(applyEvent(run, ev('token', { text: 'a' }, 1))).toBe('applied')
    expect(applyEvent(run, ev('token', { text: 'a' }, 1))).toBe('duplicate')
    expect(applyEvent(run, ev('token', { text: 'b' }, 2))).toBe('applied')
    expect(applyEvent(run, ev('token', { text: 'a' }, 1))).toBe('duplicate')
    expect(run.content).toBe('ab')
  })

  it('refuses an event past a hole so that the hole can be fetched, unless told to accept it', () => {
    const run = newRun()
    applyEvent(run, ev('token', { text: 'a' }, 1))
    expect(applyEvent(run, ev('token', { text: 'c' }, 3))).toBe('gap')
    expect(run.content).toBe('a')
    expect(applyEvent(run, ev('token', { text: 'b' }, 2))).toBe('applied')
    expect(applyEvent(run, ev('token', { text: 'c' }, 3))).toBe('applied')
    expect(run.content).toBe('abc')
    expect(applyEvent(run, ev('token', { text: 'e' }, 5), true)).toBe('applied')
    expect(run.lastSeq).toBe(5)
  })

  it('counts events of unknown types in the order without showing them', () => {
    const run = newRun()
    applyEvent(run, ev('token', { text: 'a' }, 1))
    expect(applyEvent(run, ev('unknown', null, 2))).toBe('applied')
    expect(applyEvent(run, ev('status', { status: 'waiting' }, 3))).toBe('applied')
    expect(run.waiting).toBe(true)
    expect(applyEvent(run, ev('token', { text: 'b' }, 4))).toBe('applied')
    expect(run.content).toBe('ab')
  })

  it('follows a tool card from started to finished, matched by call id', () => {
    const run = newRun()
    applyEvent(run, ev('tool', { call_id: 'c1', name: 'calculate', params: { expression: '2+2' }, status: 'started' }, 1))
    expect(run.tools).toHaveLength(1)
    expect(run.tools[0]).toMatchObject({ name: 'calculate', status: 'started', params: { expression: '2+2' } })
    applyEvent(run, ev('tool', { call_id: 'c1', name: 'calculate', params: { expression: '2+2' }, status: 'finished', result: '4', duration_ms: 12.5 }, 2))
    expect(run.tools).toHaveLength(1)
    expect(run.tools[0]).toMatchObject({ status: 'finished', result: '4', durationMs: 12.5 })
  })

  it('matches a finish without call id to the newest running call of that tool', () => {
    const run = newRun()
    applyEvent(run, ev('tool', { name: 'read_file', params: { path: 'a' }, status: 'started' }, 1))
    applyEvent(run, ev('tool', { name: 'read_file', params: { path: 'a' }, status: 'failed', result: 'no such file' }, 2))
    applyEvent(run, ev('tool', { name: 'read_file', params: { path: 'b' }, status: 'started' }, 3))
    expect(run.tools.map((t) => t.status)).toEqual(['failed', 'started'])
  })

  it('shows an approval, and settles it when the tool is denied', () => {
    const run = newRun()
    applyEvent(run, ev('approval_required', { approval_id: 'ap1', call_id: 'c1', tool: 'execute_command', params: { command: 'rm -rf /tmp/x' }, risk: 'high' }, 1))
    applyEvent(run, ev('approval_required', { approval_id: 'ap1', tool: 'execute_command', params: {}, risk: 'high' }, 1))
    expect(run.approvals).toHaveLength(1)
    expect(run.approvals[0]).toMatchObject({ tool: 'execute_command', risk: 'high', callId: 'c1' })
    expect(run.approvals[0]!.decision).toBeUndefined()
    applyEvent(run, ev('tool', { call_id: 'c1', name: 'execute_command', params: {}, status: 'denied' }, 2))
    expect(run.approvals[0]!.decision).toBe('deny')
    expect(run.tools[0]!.status).toBe('denied')
  })

  it('keeps what tainted the run with its approval', () => {
    const run = newRun()
    applyEvent(run, ev('approval_required', { approval_id: 'ap2', tool: 'http_request', params: {}, risk: 'network', tainted_by: { tool: 'web_read', source: 'https://evil.example/' } }, 1))
    expect(run.approvals[0]!.taintedBy).toEqual({ tool: 'web_read', source: 'https://evil.example/' })
  })

  it('takes the final answer, ids and status from complete', () => {
    const run = newRun()
    applyEvent(run, ev('token', { text: 'partial' }, 1))
    applyEvent(run, ev('complete', { status: 'succeeded', content: 'The answer', conversation_id: 'conv', message_id: 7, run_id: RUN, tools_used: [] }, 2))
    expect(run).toMatchObject({ status: 'complete', content: 'The answer', conversationId: 'conv', messageId: 7 })
  })

  it('keeps the citations complete carries', () => {
    const run = newRun()
    const citation = { n: 1, document_id: 'd1', filename: 'report.pdf', chunk_id: 'd1:3', page: 2, text: 'The survey counted 412 puffins.' }
    applyEvent(run, ev('complete', { status: 'succeeded', content: 'It counted 412 [1].', run_id: RUN, citations: [citation] }, 1))
    expect(run.citations).toEqual([citation])
  })

  it('keeps an error visible through the complete that follows it', () => {
    const run = newRun()
    applyEvent(run, ev('error', { message: 'The model server is not reachable', code: 'model_unavailable' }, 1))
    applyEvent(run, ev('complete', { status: 'failed', content: '', run_id: RUN }, 2))
    expect(run.status).toBe('error')
    expect(run.error).toEqual({ message: 'The model server is not reachable', code: 'model_unavailable' })
  })

  it('marks a cancelled run', () => {
    const run = newRun()
    applyEvent(run, ev('complete', { status: 'cancelled', content: '', run_id: RUN }, 1))
    expect(run.status).toBe('cancelled')
  })

  it('applies events without seq (protocol errors) without touching the order', () => {
    const run = newRun()
    applyEvent(run, ev('error', { message: 'bad message', code: 'invalid_message' }, null))
    expect(run.lastSeq).toBe(0)
    expect(run.status).toBe('error')
  })
})

describe('toolsFromHistory', () => {
  it('turns stored tool names and records into finished cards', () => {
    const cards = toolsFromHistory(['calculate', { name: 'read_file', params: { path: 'x' }, status: 'failed', call_id: 'c9' }])
    expect(cards.map((c) => [c.name, c.status])).toEqual([
      ['calculate', 'finished'],
      ['read_file', 'failed'],
    ])
  })
})
