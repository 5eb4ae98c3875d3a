/**
 * The web app's two languages (English, French) with vue-i18n: messages, and the dates and
 * numbers formatted for the locale. `t` works outside components (stores, libraries);
 * components use `useI18n()` or `$t` in templates. Every key exists in both languages
 * (tests/unit/i18n.spec.ts checks it, and that templates hard-code no text).
 */
import { createI18n } from 'vue-i18n'
import en from './locales/en.json'
import fr from './locales/fr.json'

export const LOCALES = ['en', 'fr'] as const
export type Locale = (typeof LOCALES)[number]
export const LOCALE_NAMES: Record<Locale, string> = { en: 'English', fr: 'Français' }

export type MessageSchema = typeof en

const LOCALE_KEY = 'orchestrator.locale'

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value)
}

/** The first of the browser's languages the app speaks; English otherwise. */
export function browserLocale(languages: readonly string[] = globalThis.navigator?.languages ?? []): Locale {
  for (const tag of languages) {
    const base = tag.toLowerCase().split('-')[0]
    if (isLocale(base)) return base
  }
  return 'en'
}

/** The language chosen in Settings (kept in this browser), else the browser's. */
export function storedLocale(): Locale | null {
  const value = globalThis.localStorage?.getItem(LOCALE_KEY)
  return isLocale(value) ? value : null
}

const datetimeFormats = {
  short: { year: 'numeric', month: 'short', day: 'numeric' },
  long: { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' },
  time: { hour: '2-digit', minute: '2-digit' },
} as const

const numberFormats = {
  decimal: { maximumFractionDigits: 1 },
  integer: { maximumFractionDigits: 0 },
  percent: { style: 'percent', maximumFractionDigits: 0 },
} as const

export const i18n = createI18n<[MessageSchema], Locale, false>({
  legacy: false,
  locale: storedLocale() ?? browserLocale(),
  fallbackLocale: 'en',
  messages: { en, fr },
  datetimeFormats: { en: datetimeFormats, fr: datetimeFormats },
  numberFormats: { en: numberFormats, fr: numberFormats },
  missingWarn: false,
  fallbackWarn: false,
})

/** Translate outside a component (stores, libraries). */
export const t = i18n.global.t

export function currentLocale(): Locale {
  return i18n.global.locale.value
}

/** Switch the app's language; `remember` keeps the choice in this browser. */
export function setLocale(locale: Locale, remember = true): void {
  i18n.global.locale.value = locale
  document.documentElement.lang = locale
  if (remember) globalThis.localStorage?.setItem(LOCALE_KEY, locale)
}

/** Back to following the browser's language (the choice is forgotten). */
export function forgetLocale(): void {
  globalThis.localStorage?.removeItem(LOCALE_KEY)
  setLocale(browserLocale(), false)
}
