/**
 * The signed-in account. The session itself lives in HttpOnly cookies set by the server
 * (scripts cannot read them); nothing sensitive is kept in localStorage.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, configureAuth, errorCode, errorMessage, type User } from '@/api/client'
import { t } from '@/i18n'

export class AuthError extends Error {
  constructor(
    message: string,
    readonly pending = false,
  ) {
    super(message)
  }
}

export type RegisterResult = 'signed-in' | 'pending'

export const useAuthStore = defineStore('auth', () => {
  const user = ref<User | null>(null)
  /** Set when the session ended on its own (expired, revoked), for the login page to say so. */
  const expired = ref(false)
  let refreshing: Promise<boolean> | null = null

  const isAuthenticated = computed(() => user.value !== null)
  const isAdmin = computed(() => user.value?.role === 'admin')

  async function login(username: string, password: string): Promise<void> {
    const { data, error, response } = await api.POST('/api/v1/auth/login', {
      body: { username, password, cookie: true },
    })
    if (!data) {
      const pending = response.status === 403 && errorCode(error) === 'account_pending'
      throw new AuthError(errorMessage(error, t('login.failed')), pending)
    }
    expired.value = false
    user.value = data.user
  }

  /** Registers, then signs in unless the account waits for an administrator. */
  async function register(username: string, password: string, email?: string): Promise<RegisterResult> {
    const { data, error } = await api.POST('/api/v1/auth/register', {
      body: { username, password, email: email || undefined },
    })
    if (!data) throw new AuthError(errorMessage(error, t('login.registerFailed')))
    if (!data.is_active) return 'pending'
    await login(username, password)
    return 'signed-in'
  }

  /** Renews the session cookies with the refresh cookie; one request however many ask. */
  function refresh(): Promise<boolean> {
    refreshing ??= (async () => {
      try {
        const { response } = await api.POST('/api/v1/auth/refresh', {})
        return response.ok
      } catch {
        return false
      } finally {
        refreshing = null
      }
    })()
    return refreshing
  }

  /** Loads the account behind the session cookie; false when there is none or it ended. */
  async function restore(): Promise<boolean> {
    if (user.value) return true
    const { data } = await api.GET('/api/v1/auth/me')
    if (!data) return false
    user.value = data
    return true
  }

  /** Ends the session on the server (its cookies are cleared) and here. */
  async function logout(): Promise<void> {
    try {
      // First the server, so that nothing (the router's restore) finds the session alive.
      await api.POST('/api/v1/auth/logout', {})
    } finally {
      user.value = null
    }
  }

  /** The server refused the session and it could not be renewed: back to login. */
  function expire(): void {
    if (!user.value) return
    user.value = null
    expired.value = true
  }

  configureAuth(refresh, expire)

  return { user, expired, isAuthenticated, isAdmin, login, register, refresh, restore, logout, expire }
})
