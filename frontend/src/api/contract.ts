/** Named shapes from the generated schema (`schema.d.ts`), and the one the schema leaves open (tool parameters). */
import type { Schemas } from './client'

export type ModelInfo = Schemas['ModelInfo']
export type AgentInfo = Schemas['AgentSpec']
export type ToolInfo = Schemas['ToolOut']
export type ToolStats = Schemas['ToolStats']
export type RunEvent = Schemas['RunEventOut']
export type RunInfo = Schemas['RunOut']
export type AgentUpdate = Schemas['AgentUpdate']
export type SystemStats = Schemas['StatsOut']
export type Memory = Schemas['MemoryOut']
/** `source` has a server default ("user"); the generated type makes it look required. */
export type MemoryCreate = Omit<Schemas['MemoryCreate'], 'source'> & { source?: string }
export type MemoryUpdate = Schemas['MemoryUpdate']
export type WorkspaceEntry = Schemas['FileInfo']

/** A run's `status` and `kind`, as the schema enumerates them. */
export type RunStatus = RunInfo['status']
export type RunKind = RunInfo['kind']
// Every status of the schema, in the order a run goes through them (a missing or extra
// one fails to compile).
const STATUS_ORDER: Record<RunStatus, number> = {
  queued: 0,
  running: 1,
  waiting: 2,
  succeeded: 3,
  failed: 4,
  cancelled: 5,
}
export const RUN_STATUSES: readonly RunStatus[] = (Object.keys(STATUS_ORDER) as RunStatus[]).sort(
  (a, b) => STATUS_ORDER[a] - STATUS_ORDER[b],
)
export const LIVE_STATUSES: readonly RunStatus[] = ['queued', 'running', 'waiting']

export function isRunStatus(value: string): value is RunStatus {
  return (RUN_STATUSES as readonly string[]).includes(value)
}

export function isLiveStatus(value: string): boolean {
  return (LIVE_STATUSES as readonly string[]).includes(value)
}

/** The part of a tool's JSON schema the Tools view shows. */
export interface JsonSchema {
  type?: string
  description?: string
  properties?: Record<string, JsonSchema>
  required?: string[]
}

export function asJsonSchema(value: Record<string, unknown>): JsonSchema {
  return value as JsonSchema
}

export type KnowledgeCollection = Schemas['CollectionOut']
export type KnowledgeDocument = Schemas['DocumentOut']
export type KnowledgePassage = Schemas['PassageOut']
