/** Named shapes from the generated schema, and the one the schema leaves open (tool parameters). */
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

/** A run's `status` (the schema types it as a plain string). */
export type RunStatus = 'queued' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled'
export const RUN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled']
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
