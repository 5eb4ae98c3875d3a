/** Every mounted component gets the app's i18n (English: tests read the English texts). */
import { config } from '@vue/test-utils'
import { i18n, setLocale } from '@/i18n'

setLocale('en', false)
config.global.plugins.push(i18n)
