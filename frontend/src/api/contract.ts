/** Named shapes from the generated schema, and the one the schema leaves open (tool parameters). */
import type { Schemas } from './client'

export type ModelInfo = Schemas['ModelInfo']
export type AgentInfo = Schemas['AgentSpec']
export type ToolInfo = Schemas['ToolOut']
export type ToolStats = Schemas['ToolStats']
export type RunEvent = Schemas['RunEventOut']

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
