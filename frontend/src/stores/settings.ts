/** Preferences kept in this browser (theme, default model) and what the server offers (models, agents). */
import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { AgentInfo, ModelInfo } from '@/api/contract'
import { forgetLocale, isLocale, setLocale, storedLocale, t, type Locale } from '@/i18n'

export type Theme = 'light' | 'dark' | 'system'

const THEME_KEY = 'orchestrator.theme'
const MODEL_KEY = 'orchestrator.defaultModel'

function storedTheme(): Theme {
  const value = localStorage.getItem(THEME_KEY)
  return value === 'light' || value === 'dark' ? value : 'system'
}

function prefersDark(): boolean {
  return typeof window.matchMedia === 'function' && window.matchMedia('(prefers-color-scheme: dark)').matches
}

/** Puts the `dark` class on <html> (Tailwind's class strategy). */
export function applyTheme(theme: Theme): void {
  const dark = theme === 'dark' || (theme === 'system' && prefersDark())
  document.documentElement.classList.toggle('dark', dark)
}

export const useSettingsStore = defineStore('settings', () => {
  const theme = ref<Theme>(storedTheme())
  const defaultModel = ref<string>(localStorage.getItem(MODEL_KEY) ?? '')
  const models = ref<ModelInfo[]>([])
  const modelsError = ref<string | null>(null)
  /** null: not asked yet; false: the server has no agents route (the picker hides). */
  const agents = ref<AgentInfo[] | null>(null)
  const agentsAvailable = ref(false)
  const sidebarOpen = ref(false)
  /** The interface language the user chose; '' follows the browser's. */
  const language = ref<Locale | ''>(storedLocale() ?? '')
  const languageError = ref<string | null>(null)

  watch(theme, (value) => {
    if (value === 'system') localStorage.removeItem(THEME_KEY)
    else localStorage.setItem(THEME_KEY, value)
    applyTheme(value)
  })
  watch(language, (value) => {
    if (isLocale(value)) setLocale(value)
    else forgetLocale()
  })

  /** The language kept with the account (signed in) follows the user to other browsers; an
   * account without one keeps this browser's choice. */
  function adoptLanguage(value: string | null | undefined): void {
    if (isLocale(value)) language.value = value
  }

  /** Chooses the language here and on the account; '' follows the browser's. */
  async function chooseLanguage(value: Locale | ''): Promise<void> {
    language.value = value
    const { error } = await api.PATCH('/api/v1/auth/me', { body: { language: value || null } })
    languageError.value = error ? errorMessage(error, t('settings.languageFailed')) : null
  }
  watch(defaultModel, (value) => {
    if (value) localStorage.setItem(MODEL_KEY, value)
    else localStorage.removeItem(MODEL_KEY)
  })

  /** The model a new chat starts with: the saved default if offered, else the first real one. */
  const preferredModel = computed(() => {
    const offered = models.value
    if (defaultModel.value && (offered.length === 0 || offered.some((m) => (m.id || m.name) === defaultModel.value))) {
      return defaultModel.value
    }
    const first = offered.find((m) => !m.demo) ?? offered[0]
    return first ? first.id || first.name : ''
  })

  async function loadModels(): Promise<void> {
    const { data, error } = await api.GET('/api/v1/system/models')
    models.value = data?.data ?? []
    modelsError.value = data ? null : errorMessage(error, t('settings.modelsFailed'))
  }

  /** An older server without /agents answers 404: the agent picker then stays hidden. */
  async function loadAgents(): Promise<void> {
    const { data } = await api.GET('/api/v1/agents')
    agents.value = data?.data ?? []
    agentsAvailable.value = agents.value.length > 0
  }

  return {
    theme,
    defaultModel,
    models,
    modelsError,
    agents,
    agentsAvailable,
    sidebarOpen,
    language,
    languageError,
    adoptLanguage,
    chooseLanguage,
    preferredModel,
    loadModels,
    loadAgents,
  }
})
