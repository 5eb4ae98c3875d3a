/**
 * The typed API client, generated from the backend's OpenAPI schema (`npm run gen:api`).
 * A middleware adds the bearer token and reports a 401 so the app can return to login.
 */
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export type User = Schemas['UserOut']
export type Conversation = Schemas['ConversationOut']
export type StoredMessage = Schemas['MessageOut']

export const API_PREFIX = '/api/v1'

type TokenSource = () => string | null
type UnauthorizedHandler = () => void

let tokenSource: TokenSource = () => null
let onUnauthorized: UnauthorizedHandler = () => {}

/** Wires the client to the auth store without an import cycle. */
export function configureAuth(source: TokenSource, unauthorized: UnauthorizedHandler): void {
  tokenSource = source
  onUnauthorized = unauthorized
}

export function authHeader(): Record<string, string> {
  const token = tokenSource()
  return token ? { Authorization: `Bearer ${token}` } : {}
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = tokenSource()
    if (token) request.headers.set('Authorization', `Bearer ${token}`)
    return request
  },
  onResponse({ request, response }) {
    // A failed login is a 401 too; that one is the form's business, not an expiry.
    if (response.status === 401 && !request.url.includes('/auth/login')) onUnauthorized()
    return response
  },
}

export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? '',
  // Looked up per call (not captured once), so tests can stub the global fetch.
  fetch: (request) => globalThis.fetch(request),
})
api.use(auth)

/** The human-readable part of an error body `{detail, code}` (FastAPI's 422 lists included). */
export function errorMessage(error: unknown, fallback = 'Something went wrong'): string {
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
  return fallback
}
