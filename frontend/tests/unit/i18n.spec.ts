/**
 * Every string of the web app in both languages: the two message files have the same keys,
 * every `t('…')` key used in the code exists, and the templates hard-code no text (text
 * nodes and user-visible attributes go through `t()`).
 */
import { NodeTypes, type AttributeNode, type DirectiveNode, type ElementNode, type TemplateChildNode } from '@vue/compiler-dom'
import { parse } from '@vue/compiler-sfc'
import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import { nextTick } from 'vue'
import { errorMessage } from '@/api/client'
import ApprovalCard from '@/components/ApprovalCard.vue'
import { browserLocale, forgetLocale, setLocale, t } from '@/i18n'
import en from '@/locales/en.json'
import fr from '@/locales/fr.json'

/** Every source file's text, by its path under src/ ("views/ChatView.vue"). */
const SOURCES: Record<string, string> = Object.fromEntries(
  Object.entries(
    import.meta.glob<string>(['../../src/**/*.vue', '../../src/**/*.ts', '!../../src/**/*.d.ts'], { query: '?raw', import: 'default', eager: true }),
  ).map(([path, text]) => [path.replace('../../src/', ''), text]),
)

/** Attributes a person reads or hears (screen readers); component props that end up as text. */
const VISIBLE_ATTRS = new Set(['placeholder', 'title', 'aria-label', 'aria-description', 'alt', 'label', 'empty', 'hint', 'description', 'text', 'message'])

/** Text that is the same in every language: symbols, brand and protocol names. */
const ALLOWED_TEXT = new Set(['AI Orchestrator', 'Orchestrator', 'MCP', 'JSON', 'Markdown', 'API', 'p95', 'SSE', 'HTTP', 'URL', 'ms', 's', 'stdio', 'http', 'headers', 'env', 'Authorization: Bearer …', 'API_KEY=…', 'https://host/mcp'])

function files(ext: string): [string, string][] {
  return Object.entries(SOURCES).filter(([path]) => path.endsWith(ext))
}

function keys(tree: object, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([key, value]) =>
    value && typeof value === 'object' ? keys(value as object, `${prefix}${key}.`) : [`${prefix}${key}`],
  )
}

/** A string with a letter in it, once symbols and allowed names are taken out. */
function hasWords(text: string): boolean {
  const trimmed = text.trim()
  if (!trimmed || ALLOWED_TEXT.has(trimmed)) return false
  return /\p{L}{2,}/u.test(trimmed)
}

/** String literals of an expression that a person would read: not `t()` keys, not compared values. */
function visibleLiterals(expression: string): string[] {
  const stripped = expression
    .replace(/\$?t[ce]?\(\s*(['"`])(?:(?!\1).)*\1/g, 't(KEY') // t('key', ...) and $t(`key.${x}`)
    .replace(/[!=]==?\s*(['"])(?:(?!\1).)*\1/g, '=== X') // status === 'failed'
    .replace(/(['"])(?:(?!\1).)*\1\s*[!=]==?/g, 'X ===')
    .replace(/\b(?:name|kind|status|role|type|tone|icon|size|variant)\s*:\s*(['"])(?:(?!\1).)*\1/g, 'K: X') // { name: 'runs' }
  const found: string[] = []
  for (const match of stripped.matchAll(/(['"`])((?:(?!\1)[^\\]|\\.)*)\1/g)) {
    const text = match[2]!.replace(/\$\{[^}]*\}/g, ' ')
    if (hasWords(text)) found.push(text)
  }
  return found
}

function hardCoded(source: string): string[] {
  const { descriptor } = parse(source)
  const ast = descriptor.template?.ast
  if (!ast) return []
  const found: string[] = []
  const visit = (node: TemplateChildNode | ElementNode): void => {
    if (node.type === NodeTypes.TEXT && hasWords(node.content)) found.push(`text: ${node.content.trim()}`)
    if (node.type === NodeTypes.INTERPOLATION && node.content.type === NodeTypes.SIMPLE_EXPRESSION) {
      for (const text of visibleLiterals(node.content.content)) found.push(`{{ }}: ${text}`)
    }
    if (node.type === NodeTypes.ELEMENT) {
      if (node.tag === 'code' || node.tag === 'kbd') return // code and keys read the same in every language
      for (const prop of node.props as (AttributeNode | DirectiveNode)[]) {
        if (prop.type === NodeTypes.ATTRIBUTE && VISIBLE_ATTRS.has(prop.name) && prop.value && hasWords(prop.value.content)) {
          found.push(`${prop.name}="${prop.value.content}"`)
        }
        if (prop.type === NodeTypes.DIRECTIVE && prop.name === 'bind' && prop.arg?.type === NodeTypes.SIMPLE_EXPRESSION && VISIBLE_ATTRS.has(prop.arg.content)) {
          const expression = prop.exp?.type === NodeTypes.SIMPLE_EXPRESSION ? prop.exp.content : ''
          for (const text of visibleLiterals(expression)) found.push(`:${prop.arg.content}: ${text}`)
        }
      }
      node.children.forEach(visit)
    }
    if (node.type === NodeTypes.IF) node.branches.forEach((branch) => branch.children.forEach(visit))
    if (node.type === NodeTypes.FOR) node.children.forEach(visit)
  }
  ast.children.forEach(visit)
  return found
}

describe('translations', () => {
  it('have the same keys in English and French, none empty', () => {
    const english = keys(en).sort()
    const french = keys(fr).sort()
    expect(english.filter((k) => !french.includes(k)), 'missing in fr.json').toEqual([])
    expect(french.filter((k) => !english.includes(k)), 'missing in en.json').toEqual([])
    const empty = english.filter((k) => !k.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], fr))
    expect(empty, 'empty in fr.json').toEqual([])
  })

  it('exist for every key the code asks for', () => {
    const known = new Set(keys(en))
    const missing: string[] = []
    for (const [file, source] of [...files('.vue'), ...files('.ts')]) {
      for (const match of source.matchAll(/(?<![\w.])\$?t[ce]?\(\s*'([\w.-]+)'/g)) {
        if (!known.has(match[1]!)) missing.push(`${file}: ${match[1]}`)
      }
      for (const match of source.matchAll(/keypath="([\w.-]+)"/g)) {
        if (!known.has(match[1]!)) missing.push(`${file}: ${match[1]}`)
      }
    }
    expect(missing, 'keys missing from src/locales/en.json').toEqual([])
  })

  it('leave no text hard-coded in a template', () => {
    const found: string[] = []
    expect(files('.vue').length).toBeGreaterThan(40)
    for (const [file, source] of files('.vue')) {
      for (const text of hardCoded(source)) found.push(`${file}: ${text}`)
    }
    expect(found, 'text hard-coded in templates: use $t() (frontend/README.md, "Languages")').toEqual([])
  })

  it('catch a hard-coded string (the checker itself)', () => {
    const sfc = (template: string) => `<template>${template}</template>`
    expect(hardCoded(sfc('<p>Hello there</p>'))).toEqual(['text: Hello there'])
    expect(hardCoded(sfc('<input placeholder="Your name" />'))).toEqual(['placeholder="Your name"'])
    expect(hardCoded(sfc(`<button :aria-label="open ? 'Close' : 'Open'" />`))).toEqual([':aria-label: Close', ':aria-label: Open'])
    expect(hardCoded(sfc(`<span>{{ edited ? 'edited' : $t('a.b') }}</span>`))).toEqual(['{{ }}: edited'])
    expect(hardCoded(sfc(`<p v-if="x">{{ $t('a.b') }} · {{ n }}</p><p v-else :title="$t(\`s.\${k}\`)">→</p>`))).toEqual([])
    expect(hardCoded(sfc(`<b v-if="run.status === 'failed'">{{ $t('x.y') }}</b>`))).toEqual([])
  })
})

describe('language', () => {
  it('follows the browser: the first language the app speaks, else English', () => {
    expect(browserLocale(['fr-CA', 'en-US'])).toBe('fr')
    expect(browserLocale(['de-DE', 'en-GB'])).toBe('en')
    expect(browserLocale(['de-DE'])).toBe('en')
    expect(browserLocale([])).toBe('en')
  })

  it('switches what a component says, and is kept in this browser', async () => {
    const wrapper = mount(ApprovalCard, {
      props: { approval: { approvalId: 'a1', tool: 'execute_command', risk: 'exec', params: {}, decision: 'approve' } },
    })
    expect(wrapper.get('[data-testid="approval-decision"]').text()).toBe('Approved')
    setLocale('fr')
    await nextTick()
    expect(wrapper.get('[data-testid="approval-decision"]').text()).toBe('Approuvé')
    expect(wrapper.text()).toContain('Exécuter execute_command\u00a0?')
    expect(localStorage.getItem('orchestrator.locale')).toBe('fr')
    expect(document.documentElement.lang).toBe('fr')
    forgetLocale()
    expect(localStorage.getItem('orchestrator.locale')).toBeNull()
    setLocale('en', false)
  })

  it('translates an API error by its code, after what failed, else shows the detail', () => {
    setLocale('fr', false)
    expect(errorMessage({ detail: 'invalid username or password', code: 'invalid_credentials' }, t('login.failed'))).toBe(
      "Échec de la connexion\u00a0: nom d'utilisateur ou mot de passe incorrect.",
    )
    expect(errorMessage({ detail: 'too many login attempts', code: 'rate_limited' })).toBe('trop de tentatives ; patientez un instant puis réessayez.'.replace(' ;', '\u00a0;'))
    // A code the app does not know: the server's words.
    expect(errorMessage({ detail: 'the disk is on fire', code: 'disk_on_fire' }, 'X')).toBe('the disk is on fire')
    expect(errorMessage(null, t('failures.listRuns'))).toBe('Impossible de lister les exécutions')
    setLocale('en', false)
    expect(errorMessage({ detail: 'x', code: 'quota_exceeded' }, t('failures.startRun'))).toBe('Could not start the run: you have reached your quota; wait for it to free up.')
  })
})
