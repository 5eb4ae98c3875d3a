/**
 * The workspace files a conversation created or changed, from its runs' tool calls: every
 * finished call of a file-writing tool names the path it touched (the last action wins).
 */
import type { ToolCallView } from './runReducer'

export type FileAction = 'written' | 'deleted' | 'moved'

export interface ChangedFile {
  path: string
  action: FileAction
  tool: string
}

/** Tool -> the parameters that name the paths it writes, and what it does to them. */
const WRITERS: Record<string, { params: string[]; action: FileAction }> = {
  write_file: { params: ['path'], action: 'written' },
  edit_file: { params: ['path'], action: 'written' },
  make_directory: { params: ['path'], action: 'written' },
  delete_path: { params: ['path'], action: 'deleted' },
  move_path: { params: ['destination'], action: 'moved' },
  archive: { params: ['archive', 'destination'], action: 'written' },
  run_format: { params: ['path'], action: 'written' },
}

/** Paths named in a unified diff's `+++ b/PATH` lines. */
function patchedPaths(patch: unknown): string[] {
  if (typeof patch !== 'string') return []
  return Array.from(patch.matchAll(/^\+\+\+ (?:b\/)?([^\t\n]+)/gm), (m) => m[1]!.trim()).filter((p) => p !== '/dev/null')
}

export function changedFiles(calls: Iterable<ToolCallView>): ChangedFile[] {
  const found = new Map<string, ChangedFile>()
  const note = (path: unknown, action: FileAction, tool: string) => {
    if (typeof path !== 'string' || !path.trim()) return
    const clean = path.replace(/^\.\/+/, '').replace(/\/+$/, '')
    found.delete(clean) // re-insert: the newest change sorts last
    found.set(clean, { path: clean, action, tool })
  }
  for (const call of calls) {
    if (call.status !== 'finished') continue
    if (call.name === 'apply_patch') {
      for (const path of patchedPaths(call.params.patch)) note(path, 'written', call.name)
      continue
    }
    const writer = WRITERS[call.name]
    if (!writer) continue
    if (call.name === 'move_path') note(call.params.source, 'deleted', call.name)
    for (const key of writer.params) note(call.params[key], writer.action, call.name)
  }
  return [...found.values()].reverse()
}
