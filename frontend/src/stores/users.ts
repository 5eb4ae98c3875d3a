/** Account administration (admins): list, activate, change role, remove. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage, type User } from '@/api/client'
import { t } from '@/i18n'

export const useUsersStore = defineStore('users', () => {
  const items = ref<User[]>([])
  const error = ref<string | null>(null)

  async function load(): Promise<void> {
    const { data, error: failure } = await api.GET('/api/v1/users')
    if (!data) {
      error.value = errorMessage(failure, t('failures.loadUsers'))
      return
    }
    error.value = null
    items.value = data.data
  }

  async function update(id: number, change: { is_active?: boolean; role?: 'admin' | 'user' }): Promise<void> {
    const { data, error: failure } = await api.PATCH('/api/v1/users/{user_id}', {
      params: { path: { user_id: id } },
      body: change,
    })
    if (!data) {
      error.value = errorMessage(failure, t('failures.updateUser'))
      return
    }
    error.value = null
    items.value = items.value.map((u) => (u.id === id ? data : u))
  }

  async function remove(id: number): Promise<void> {
    const { response, error: failure } = await api.DELETE('/api/v1/users/{user_id}', {
      params: { path: { user_id: id } },
    })
    if (!response.ok) {
      error.value = errorMessage(failure, t('failures.deleteUser'))
      return
    }
    error.value = null
    items.value = items.value.filter((u) => u.id !== id)
  }

  return { items, error, load, update, remove }
})
