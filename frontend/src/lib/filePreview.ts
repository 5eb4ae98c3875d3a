/** What kind of preview a workspace file gets, from its name (and, for unknown names, its bytes). */

export type PreviewKind = 'image' | 'markdown' | 'code' | 'text' | 'none'

const IMAGES = new Set(['png', 'jpg', 'jpeg', 'gif', 'webp', 'bmp', 'ico', 'avif', 'svg'])
const MARKDOWN = new Set(['md', 'markdown', 'mdown'])
/** Extensions shown as code, with highlight.js's language name where it differs. */
const CODE: Record<string, string> = {
  py: 'python',
  js: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  jsx: 'javascript',
  ts: 'typescript',
  tsx: 'typescript',
  json: 'json',
  yaml: 'yaml',
  yml: 'yaml',
  toml: 'ini',
  ini: 'ini',
  cfg: 'ini',
  sh: 'bash',
  bash: 'bash',
  zsh: 'bash',
  c: 'c',
  h: 'c',
  cpp: 'cpp',
  cc: 'cpp',
  hpp: 'cpp',
  go: 'go',
  rs: 'rust',
  java: 'java',
  css: 'css',
  html: 'xml',
  htm: 'xml',
  xml: 'xml',
  vue: 'xml',
  sql: 'sql',
  diff: 'diff',
  patch: 'diff',
}
const TEXT = new Set(['txt', 'log', 'csv', 'tsv', 'env', 'text', 'rst', 'conf', 'lock'])
const TEXT_NAMES = new Set(['dockerfile', 'makefile', 'readme', 'license', '.gitignore'])

/** Files above this size are offered for download rather than previewed. */
export const MAX_PREVIEW_BYTES = 1024 * 1024

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.')
  return dot <= 0 ? '' : name.slice(dot + 1).toLowerCase()
}

export function previewKind(name: string): PreviewKind {
  const ext = extensionOf(name)
  if (IMAGES.has(ext)) return 'image'
  if (MARKDOWN.has(ext)) return 'markdown'
  if (ext in CODE) return 'code'
  if (TEXT.has(ext) || TEXT_NAMES.has(name.toLowerCase())) return 'text'
  if (name.toLowerCase() === 'dockerfile') return 'code'
  return 'none'
}

/** highlight.js's language for a file name ('' when none). */
export function languageOf(name: string): string {
  if (name.toLowerCase() === 'dockerfile') return 'dockerfile'
  return CODE[extensionOf(name)] ?? ''
}

/** True when the bytes look like text (no NUL in the first 8 KB, valid UTF-8). */
export function looksLikeText(bytes: Uint8Array): boolean {
  const head = bytes.subarray(0, 8192)
  if (head.includes(0)) return false
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.length < bytes.length ? head.subarray(0, lastCharBoundary(head)) : head)
    return true
  } catch {
    return false
  }
}

/** Index where the last (possibly cut) UTF-8 sequence of `bytes` starts. */
function lastCharBoundary(bytes: Uint8Array): number {
  let i = bytes.length
  for (let back = 0; back < 4 && i > 0; back++) {
    const byte = bytes[i - 1]!
    if ((byte & 0xc0) !== 0x80) return byte < 0x80 ? bytes.length : i - 1
    i--
  }
  return bytes.length
}
