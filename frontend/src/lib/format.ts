/** Numbers, sizes, dates and times as people read them, in the app's language (Intl). */
import { currentLocale, t } from '@/i18n'

function number(value: number, maximumFractionDigits = 0): string {
  return new Intl.NumberFormat(currentLocale(), { maximumFractionDigits }).format(value)
}

export function formatNumber(value: number | null | undefined, digits = 0): string {
  return value == null ? '—' : number(value, digits)
}

export function formatPercent(value: number): string {
  return new Intl.NumberFormat(currentLocale(), { style: 'percent', maximumFractionDigits: 0 }).format(value / 100)
}

export function formatMs(value: number | null | undefined): string {
  if (value == null) return '—'
  return value < 1000 ? `${number(Math.round(value))} ms` : `${number(value / 1000, 1)} s`
}

export function formatBytes(value: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let size = value
  let unit = 0
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024
    unit++
  }
  const shown = size >= 10 || unit === 0 ? number(Math.round(size)) : number(size, 1)
  // French writes bytes "o" (octets): Ko, Mo, Go.
  const name = currentLocale() === 'fr' ? units[unit]!.replace('B', 'o') : units[unit]
  return `${shown}\u00a0${name}`
}

/** "3 d 4 h", "5 h 12 min", "42 s" ("3 j 4 h" in French). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (d) return t('format.daysHours', { d, h })
  if (h) return `${h} h ${m} min`
  if (m) return `${m} min ${s % 60} s`
  return `${s} s`
}

/** A date and time ("29 Nov 2026, 14:05"), for the locale. */
export function formatDateTime(iso: string | Date | null | undefined): string {
  if (!iso) return t('format.never')
  return new Intl.DateTimeFormat(currentLocale(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso))
}

/** A date ("29 Nov 2026"), for the locale. */
export function formatDate(iso: string | Date | null | undefined): string {
  if (!iso) return t('format.never')
  return new Intl.DateTimeFormat(currentLocale(), { dateStyle: 'medium' }).format(new Date(iso))
}

/** A time of day ("14:05:09"), for the locale. */
export function formatTime(value: Date): string {
  return new Intl.DateTimeFormat(currentLocale(), { timeStyle: 'medium' }).format(value)
}

/** "just now", "5 min ago", "3 h ago", else the date. */
export function timeAgo(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return t('format.never')
  const then = new Date(iso).getTime()
  const seconds = Math.round((now - then) / 1000)
  if (seconds < 45) return t('format.justNow')
  const relative = new Intl.RelativeTimeFormat(currentLocale(), { numeric: 'always', style: 'short' })
  if (seconds < 3600) return relative.format(-Math.round(seconds / 60), 'minute')
  if (seconds < 86_400) return relative.format(-Math.round(seconds / 3600), 'hour')
  return formatDate(iso)
}

/** How long a run took (or has taken so far). */
export function runDuration(start: string | null | undefined, end: string | null | undefined, now: number = Date.now()): string {
  if (!start) return '—'
  const finish = end ? new Date(end).getTime() : now
  return formatDuration((finish - new Date(start).getTime()) / 1000)
}
