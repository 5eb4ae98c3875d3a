import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { api } from '@/api/client'
import { useAuthStore } from '@/stores/auth'

const USER = { id: 7, username: 'ann', email: null, role: 'user' as const, is_active: true, created_at: '2026-01-01T00:00:00Z' }

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

let calls: { method: string; path: string; csrf: string | null; body: string }[] = []
let sessionValid = false
let refreshWorks = true

beforeEach(() => {
  setActivePinia(createPinia())
  calls = []
  sessionValid = false
  refreshWorks = true
  document.cookie = 'orch_csrf=csrf-1; path=/'
  localStorage.clear()
  vi.stubGlobal('fetch', async (request: Request) => {
    const path = new URL(request.url).pathname
    calls.push({ method: request.method, path, csrf: request.headers.get('X-CSRF-Token'), body: await request.clone().text() })
    if (path === '/api/v1/auth/login') {
      sessionValid = true
      return json({ access_token: 'a', token_type: 'bearer', expires_in: 900, refresh_token: null, user: USER })
    }
    if (path === '/api/v1/auth/refresh') {
      if (!refreshWorks) return json({ detail: 'log in again' }, 401)
      sessionValid = true
      document.cookie = 'orch_csrf=csrf-2; path=/'
      return json({ access_token: 'b', token_type: 'bearer', expires_in: 900, refresh_token: null, user: USER })
    }
    if (!sessionValid) return json({ detail: 'token expired' }, 401)
    if (path === '/api/v1/auth/me') return json(USER)
    if (path === '/api/v1/memory') return json({ id: 'm', content: 'x', tags: [], source: 'user', created_at: '', updated_at: '' }, 201)
    return json({ detail: 'Not Found' }, 404)
  })
})
afterEach(() => vi.unstubAllGlobals())

describe('auth session', () => {
  it('asks for a cookie session and keeps nothing in localStorage', async () => {
    const auth = useAuthStore()
    await auth.login('ann', 'pw-pw-pw-pw')
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ username: 'ann', cookie: true })
    expect(auth.user?.id).toBe(7)
    expect(localStorage.length).toBe(0)
  })

  it('sends the CSRF header on writes only', async () => {
    useAuthStore()
    sessionValid = true
    await api.GET('/api/v1/auth/me')
    await api.POST('/api/v1/memory', { body: { content: 'x', tags: [], source: 'user' } })
    expect(calls.map((c) => [c.method, c.csrf])).toEqual([
      ['GET', null],
      ['POST', 'csrf-1'],
    ])
  })

  it('renews an expired session once and replays the request with the new CSRF value', async () => {
    const auth = useAuthStore()
    auth.user = USER
    const { data } = await api.POST('/api/v1/memory', { body: { content: 'x', tags: [], source: 'user' } })
    expect(data?.id).toBe('m')
    expect(calls.map((c) => `${c.method} ${c.path} ${c.csrf}`)).toEqual([
      'POST /api/v1/memory csrf-1',
      'POST /api/v1/auth/refresh csrf-1',
      'POST /api/v1/memory csrf-2',
    ])
    expect(calls[2]!.body).toContain('"content":"x"')
    expect(auth.user).not.toBeNull()
  })

  it('ends the session when it cannot be renewed', async () => {
    const auth = useAuthStore()
    auth.user = USER
    refreshWorks = false
    const { data } = await api.GET('/api/v1/auth/me')
    expect(data).toBeUndefined()
    expect(auth.user).toBeNull()
    expect(auth.expired).toBe(true)
  })
})
