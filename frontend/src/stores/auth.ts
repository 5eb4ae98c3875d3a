/** The signed-in account and its token (kept in localStorage so a reload stays signed in). */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, configureAuth, errorMessage, type User } from '@/api/client'

const TOKEN_KEY = 'orchestrator.token'

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
  const token = ref<string | null>(localStorage.getItem(TOKEN_KEY))
  const user = ref<User | null>(null)
  /** Set when the session ended on its own (expired token), for the login page to say so. */
  const expired = ref(false)

  const isAuthenticated = computed(() => token.value !== null)
  const isAdmin = computed(() => user.value?.role === 'admin')

  function setToken(value: string | null): void {
    token.value = value
    if (value) localStorage.setItem(TOKEN_KEY, value)
    else localStorage.removeItem(TOKEN_KEY)
  }

  async function login(username: string, password: string): Promise<void> {
    const { data, error, response } = await api.POST('/api/v1/auth/login', { body: { username, password } })
    if (!data) {
      const message = errorMessage(error, 'Login failed')
      throw new AuthError(message, response.status === 403 && /approv/i.test(message))
    }
    expired.value = false
    setToken(data.access_token)
    user.value = data.user
  }

  /** Registers, then signs in unless the account waits for an administrator. */
  async function register(username: string, password: string, email?: string): Promise<RegisterResult> {
    const { data, error } = await api.POST('/api/v1/auth/register', {
      body: { username, password, email: email || undefined },
    })
    if (!data) throw new AuthError(errorMessage(error, 'Registration failed'))
    if (!data.is_active) return 'pending'
    await login(username, password)
    return 'signed-in'
  }

  /** Loads the account behind a stored token; false when there is none or it is no longer valid. */
  async function restore(): Promise<boolean> {
    if (!token.value) return false
    if (user.value) return true
    const { data } = await api.GET('/api/v1/auth/me')
    if (!data) {
      setToken(null)
      return false
    }
    user.value = data
    return true
  }

  function logout(): void {
    setToken(null)
    user.value = null
  }

  /** The server refused the token: forget it and let the router send the user to login. */
  function expire(): void {
    if (!token.value) return
    logout()
    expired.value = true
  }

  configureAuth(() => token.value, expire)

  return { token, user, expired, isAuthenticated, isAdmin, login, register, restore, logout, expire }
})
