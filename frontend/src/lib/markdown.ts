/**
 * Model output to safe HTML. markdown-it never passes raw HTML through (`html: false`),
 * and DOMPurify cleans the result anyway, so no answer can run script: no <script>, no
 * event handlers, no javascript: links. Links open in a new tab without an opener.
 */
import DOMPurify from 'dompurify'
import MarkdownIt from 'markdown-it'
import { highlight } from './highlight'
import { t } from '@/i18n'

const md = new MarkdownIt({ html: false, linkify: true, breaks: false, typographer: false })

const escape = md.utils.escapeHtml

md.renderer.rules.fence = (tokens, idx) => {
  const token = tokens[idx]!
  const lang = token.info.trim().split(/\s+/)[0] ?? ''
  const code = token.content
  const body = highlight(code, lang) ?? escape(code)
  const label = lang ? escape(lang) : escape(t('markdown.text'))
  return (
    `<div class="code-block"><div class="code-head"><span>${label}</span>` +
    `<button type="button" class="code-copy" data-copy aria-label="${escape(t('markdown.copyCode'))}">${escape(t('markdown.copy'))}</button></div>` +
    `<pre><code class="hljs${lang ? ` language-${escape(lang)}` : ''}">${body}</code></pre></div>`
  )
}

let hooked = false
function addHooks(): void {
  if (hooked) return
  hooked = true
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      node.setAttribute('target', '_blank')
      node.setAttribute('rel', 'noopener noreferrer nofollow')
    }
  })
}

const PURIFY = {
  FORBID_TAGS: ['style', 'form', 'input', 'textarea', 'select', 'iframe', 'object', 'embed', 'svg', 'math'],
  FORBID_ATTR: ['style', 'srcset', 'formaction'],
  ALLOW_UNKNOWN_PROTOCOLS: false,
}

/** Sanitises any HTML string with the app's policy. */
export function sanitize(html: string): string {
  addHooks()
  return DOMPurify.sanitize(html, PURIFY)
}

/** Markdown to sanitised HTML. */
export function renderMarkdown(source: string): string {
  return sanitize(md.render(source))
}
