import { describe, expect, it } from 'vitest'
import { changedFiles } from '@/lib/conversationFiles'
import type { ToolCallView } from '@/lib/runReducer'

const call = (name: string, params: Record<string, unknown>, status: ToolCallView['status'] = 'finished'): ToolCallView => ({
  key: `${name}-${JSON.stringify(params)}`,
  name,
  params,
  status,
})

describe('changedFiles', () => {
  it('lists the paths finished writing tools touched, newest first, each once', () => {
    const files = changedFiles([
      call('write_file', { path: './notes/a.md', content: 'x' }),
      call('read_file', { path: 'other.txt' }),
      call('write_file', { path: 'failed.txt' }, 'failed'),
      call('write_file', { path: 'denied.txt' }, 'denied'),
      call('apply_patch', { patch: '--- a/src/x.py\n+++ b/src/x.py\n@@ -1 +1 @@\n-a\n+b\n' }),
      call('move_path', { source: 'old.txt', destination: 'new.txt' }),
      call('edit_file', { path: 'notes/a.md', old_text: 'x', new_text: 'y' }),
    ])
    expect(files).toEqual([
      { path: 'notes/a.md', action: 'written', tool: 'edit_file' },
      { path: 'new.txt', action: 'moved', tool: 'move_path' },
      { path: 'old.txt', action: 'deleted', tool: 'move_path' },
      { path: 'src/x.py', action: 'written', tool: 'apply_patch' },
    ])
  })

  it('ignores calls without a usable path', () => {
    expect(changedFiles([call('write_file', { path: '' }), call('write_file', { path: 3 })])).toEqual([])
  })
})
