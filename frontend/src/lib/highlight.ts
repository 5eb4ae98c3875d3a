/**
 * Code highlighting that costs nothing until a code block appears: highlight.js core and
 * each language are separate chunks, loaded on first sight; `version` bumps when one lands
 * so that rendered Markdown re-renders with colours.
 */
import type { HLJSApi, LanguageFn } from 'highlight.js'
import { ref } from 'vue'

type Loader = () => Promise<{ default: LanguageFn }>

const LANGUAGES: Record<string, Loader> = {
  bash: () => import('highlight.js/lib/languages/bash'),
  c: () => import('highlight.js/lib/languages/c'),
  cpp: () => import('highlight.js/lib/languages/cpp'),
  css: () => import('highlight.js/lib/languages/css'),
  diff: () => import('highlight.js/lib/languages/diff'),
  dockerfile: () => import('highlight.js/lib/languages/dockerfile'),
  go: () => import('highlight.js/lib/languages/go'),
  ini: () => import('highlight.js/lib/languages/ini'),
  java: () => import('highlight.js/lib/languages/java'),
  javascript: () => import('highlight.js/lib/languages/javascript'),
  json: () => import('highlight.js/lib/languages/json'),
  markdown: () => import('highlight.js/lib/languages/markdown'),
  python: () => import('highlight.js/lib/languages/python'),
  rust: () => import('highlight.js/lib/languages/rust'),
  sql: () => import('highlight.js/lib/languages/sql'),
  typescript: () => import('highlight.js/lib/languages/typescript'),
  xml: () => import('highlight.js/lib/languages/xml'),
  yaml: () => import('highlight.js/lib/languages/yaml'),
}

const ALIASES: Record<string, string> = {
  sh: 'bash',
  shell: 'bash',
  zsh: 'bash',
  console: 'bash',
  js: 'javascript',
  jsx: 'javascript',
  mjs: 'javascript',
  ts: 'typescript',
  tsx: 'typescript',
  py: 'python',
  python3: 'python',
  yml: 'yaml',
  html: 'xml',
  svg: 'xml',
  vue: 'xml',
  md: 'markdown',
  toml: 'ini',
  rs: 'rust',
  golang: 'go',
  'c++': 'cpp',
  docker: 'dockerfile',
  patch: 'diff',
}

/** Bumps each time highlight.js or a language finishes loading. */
export const highlightVersion = ref(0)

let core: HLJSApi | null = null
let coreLoading: Promise<HLJSApi> | null = null
const loading = new Set<string>()

export function languageName(lang: string): string | null {
  const key = lang.trim().toLowerCase()
  const name = ALIASES[key] ?? key
  return name in LANGUAGES ? name : null
}

async function load(name: string): Promise<void> {
  if (loading.has(name)) return
  loading.add(name)
  try {
    coreLoading ??= import('highlight.js/lib/core').then((m) => m.default)
    const [hljs, language] = await Promise.all([coreLoading, LANGUAGES[name]!()])
    hljs.registerLanguage(name, language.default)
    core = hljs
    highlightVersion.value++
  } catch {
    loading.delete(name) // a chunk failed to load: try again next time
  }
}

/** Highlighted HTML for `code`, or null when the language is unknown or still loading. */
export function highlight(code: string, lang: string): string | null {
  const name = languageName(lang)
  if (!name) return null
  if (core?.getLanguage(name)) return core.highlight(code, { language: name, ignoreIllegals: true }).value
  void load(name)
  return null
}
