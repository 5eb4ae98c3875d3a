import { createPinia } from 'pinia'
import { createApp, watch } from 'vue'
import App from './App.vue'
import { currentLocale, i18n } from './i18n'
import { buildRouter, pageTitle } from './router'
import { useAuthStore } from './stores/auth'
import { applyTheme, useSettingsStore } from './stores/settings'
import './style.css'

const app = createApp(App)
app.use(createPinia())
app.use(i18n)
document.documentElement.lang = currentLocale()
const router = buildRouter()
app.use(router)

const settings = useSettingsStore()
applyTheme(settings.theme)
window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(settings.theme))

// Signed out, or a token the server stopped accepting (expiry, deleted account): back to
// the login page; after an expiry, back to where the user was once signed in again.
const auth = useAuthStore()
watch(
  () => auth.isAuthenticated,
  (signedIn) => {
    const current = router.currentRoute.value
    if (signedIn || current.meta.public) return
    const back = auth.expired && current.fullPath !== '/'
    void router.push({ name: 'login', query: back ? { redirect: current.fullPath } : {} })
  },
)

// The language kept with the account wins once signed in (it follows the user across browsers).
watch(
  () => auth.user?.language,
  (language) => settings.adoptLanguage(language),
)

// The tab's title and <html lang> follow a change of language.
watch(
  () => i18n.global.locale.value,
  (locale) => {
    document.documentElement.lang = locale
    document.title = pageTitle(router.currentRoute.value.meta.title)
  },
)

app.mount('#app')
