/**
 * The typed API client, generated from the backend's OpenAPI schema (`npm run gen:api`).
 * The session lives in HttpOnly cookies the browser sends itself; a middleware adds the
 * CSRF header to writes, renews the session once on a 401, and otherwise reports it.
 */
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'
import { i18n, t } from '@/i18n'

export type Schemas = components['schemas']
export type User = Schemas['UserOut']
export type Conversation = Schemas['ConversationOut']
export type StoredMessage = Schemas['MessageOut']

export const API_PREFIX = '/api/v1'
export const CSRF_COOKIE = 'orch_csrf'
export const CSRF_HEADER = 'X-CSRF-Token'

type UnauthorizedHandler = () => void
type SessionRefresher = () => Promise<boolean>

let onUnauthorized: UnauthorizedHandler = () => {}
let refreshSession: SessionRefresher = async () => false

/**
 * Wires the client to the auth store without an import cycle: `refresh` renews the
 * session cookies (once for many callers), `unauthorized` ends the session in the app.
 */
export function configureAuth(refresh: SessionRefresher, unauthorized: UnauthorizedHandler): void {
  refreshSession = refresh
  onUnauthorized = unauthorized
}

/** The CSRF value the server put in its readable cookie (echoed on every write). */
export function csrfToken(): string {
  const prefix = `${CSRF_COOKIE}=`
  const found = (globalThis.document?.cookie ?? '').split('; ').find((c) => c.startsWith(prefix))
  return found ? decodeURIComponent(found.slice(prefix.length)) : ''
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const NO_RETRY = /\/auth\/(login|refresh|logout|register)$/

/** Headers for a write made outside the typed client (`fetch` by hand). */
export function writeHeaders(): Record<string, string> {
  const token = csrfToken()
  return token ? { [CSRF_HEADER]: token } : {}
}

/** Requests are kept (cloned) until answered, to be replayed once after a refresh. */
const pending = new Map<string, Request>()

const auth: Middleware = {
  onRequest({ request, id }) {
    if (!SAFE_METHODS.has(request.method)) {
      const token = csrfToken()
      if (token) request.headers.set(CSRF_HEADER, token)
    }
    if (!NO_RETRY.test(new URL(request.url).pathname)) pending.set(id, request.clone())
    return request
  },
  async onResponse({ response, id }) {
    const retry = pending.get(id)
    pending.delete(id)
    // The access cookie is short-lived: renew the session once, then replay the request.
    if (response.status !== 401 || !retry) return response
    if (await refreshSession()) {
      if (!SAFE_METHODS.has(retry.method)) retry.headers.set(CSRF_HEADER, csrfToken())
      const again = await globalThis.fetch(retry)
      if (again.status !== 401) return again
    }
    onUnauthorized()
    return response
  },
}

export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? '',
  // Looked up per call (not captured once), so tests can stub the global fetch.
  fetch: (request) => globalThis.fetch(request),
})
api.use(auth)

/** The stable `code` of an error body `{detail, code}`, if it has one. */
export function errorCode(error: unknown): string | null {
  if (error && typeof error === 'object' && 'code' in error) {
    const code = (error as { code: unknown }).code
    if (typeof code === 'string') return code
  }
  return null
}

/**
 * What to tell the user about an error body `{detail, code}`: the message for its `code` in
 * the app's language (after `fallback`, which says what failed), else the server's `detail`
 * (FastAPI's 422 lists included), else `fallback`.
 */
export function errorMessage(error: unknown, fallback?: string): string {
  const code = errorCode(error)
  if (code && i18n.global.te(`errors.${code}`)) {
    const reason = t(`errors.${code}`)
    return fallback ? t('errors.withContext', { context: fallback, reason }) : reason
  }
  return errorDetail(error) ?? fallback ?? t('errors.generic')
}

/** The server's own words for an error, untranslated. */
export function errorDetail(error: unknown): string | null {
  if (error && typeof error === 'object' && 'detail' in error) {
    const detail = (error as { detail: unknown }).detail
    if (typeof detail === 'string') return detail
    if (Array.isArray(detail)) {
      return detail
        .map((d) => (d && typeof d === 'object' && 'msg' in d ? String(d.msg) : String(d)))
        .join('; ')
    }
  }
  if (error instanceof Error) return error.message
  return null
}
