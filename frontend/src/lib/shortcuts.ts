/** The keyboard shortcuts of the app (listed in the help dialog, `?` or Ctrl+/). */

export type ShortcutAction = 'newChat' | 'focusComposer' | 'stop' | 'previousChat' | 'nextChat' | 'help'

export interface Shortcut {
  action: ShortcutAction
  keys: string[] // as shown: each a key name, pressed together
}

/** Chosen not to clash with the browser's own (Alt+←/→ are back and forward). */
export const SHORTCUTS: Shortcut[] = [
  { action: 'newChat', keys: ['Ctrl', 'Shift', 'O'] },
  { action: 'focusComposer', keys: ['Shift', 'Esc'] },
  { action: 'stop', keys: ['Esc'] },
  { action: 'previousChat', keys: ['Alt', '↑'] },
  { action: 'nextChat', keys: ['Alt', '↓'] },
  { action: 'help', keys: ['?'] },
]

function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName)
}

/** The action a key press asks for, if any (`?` only outside text fields). */
export function shortcutFor(event: KeyboardEvent): ShortcutAction | null {
  const ctrl = event.ctrlKey || event.metaKey
  if (ctrl && event.shiftKey && event.key.toLowerCase() === 'o') return 'newChat'
  if (ctrl && !event.shiftKey && event.key === '/') return 'help'
  if (event.key === 'Escape' && event.shiftKey && !ctrl && !event.altKey) return 'focusComposer'
  if (event.key === 'Escape' && !event.shiftKey && !ctrl && !event.altKey) return 'stop'
  if (event.altKey && !ctrl && !event.shiftKey && event.key === 'ArrowUp') return 'previousChat'
  if (event.altKey && !ctrl && !event.shiftKey && event.key === 'ArrowDown') return 'nextChat'
  if (event.key === '?' && !ctrl && !event.altKey && !typing(event.target)) return 'help'
  return null
}
