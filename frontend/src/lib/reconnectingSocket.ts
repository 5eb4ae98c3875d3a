/**
 * A WebSocket that reconnects with exponential backoff and jitter. Collaborators (the
 * WebSocket class, the clock) are injected so tests drive it without a network.
 */
import { parseEvent, type ClientMessage, type ServerEvent } from '@/api/events'

export type SocketStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'

/** The server closes with 4401 when the token is missing, wrong or expired. */
export const CLOSE_UNAUTHORIZED = 4401

export interface SocketHandlers {
  onEvent(event: ServerEvent): void
  onOpen(reconnected: boolean): void
  onStatus(status: SocketStatus, retryInMs?: number): void
  onUnauthorized(): void
}

export interface SocketOptions {
  url: () => string
  WebSocketImpl?: typeof WebSocket
  baseDelayMs?: number
  maxDelayMs?: number
  random?: () => number
  schedule?: (fn: () => void, ms: number) => unknown
  cancel?: (handle: unknown) => void
}

export function backoffDelay(attempt: number, base: number, max: number, random: () => number): number {
  const raw = Math.min(max, base * 2 ** attempt)
  return Math.round(raw * (0.8 + 0.4 * random()))
}

export class ReconnectingSocket {
  status: SocketStatus = 'idle'
  private socket: WebSocket | null = null
  private attempt = 0
  private everOpened = false
  private timer: unknown = null
  private stopped = false
  private readonly opts: Required<SocketOptions>

  constructor(
    private readonly handlers: SocketHandlers,
    options: SocketOptions,
  ) {
    this.opts = {
      WebSocketImpl: WebSocket,
      baseDelayMs: 500,
      maxDelayMs: 15_000,
      random: Math.random,
      schedule: (fn, ms) => setTimeout(fn, ms),
      cancel: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      ...options,
    }
  }

  connect(): void {
    this.stopped = false
    if (this.socket || this.timer !== null) return
    this.open()
  }

  /** Reconnects now instead of waiting for the backoff timer (the banner's "Retry"). */
  retryNow(): void {
    if (this.timer !== null) this.opts.cancel(this.timer)
    this.timer = null
    this.attempt = 0
    if (!this.socket) this.open()
  }

  send(message: ClientMessage): boolean {
    if (!this.socket || this.socket.readyState !== this.opts.WebSocketImpl.OPEN) return false
    this.socket.send(JSON.stringify(message))
    return true
  }

  close(): void {
    this.stopped = true
    if (this.timer !== null) this.opts.cancel(this.timer)
    this.timer = null
    const socket = this.socket
    this.socket = null
    socket?.close(1000)
    this.setStatus('closed')
  }

  private open(): void {
    this.setStatus(this.everOpened ? 'reconnecting' : 'connecting')
    const socket = new this.opts.WebSocketImpl(this.opts.url())
    this.socket = socket
    socket.onopen = () => {
      const reconnected = this.everOpened
      this.everOpened = true
      this.attempt = 0
      this.setStatus('open')
      this.handlers.onOpen(reconnected)
    }
    socket.onmessage = (message: MessageEvent) => {
      if (typeof message.data !== 'string') return
      const event = parseEvent(message.data)
      if (event) this.handlers.onEvent(event)
    }
    socket.onclose = (close: CloseEvent) => {
      if (this.socket !== socket) return
      this.socket = null
      if (close.code === CLOSE_UNAUTHORIZED) {
        this.stopped = true
        this.setStatus('closed')
        this.handlers.onUnauthorized()
        return
      }
      if (!this.stopped) this.scheduleReconnect()
    }
  }

  private scheduleReconnect(): void {
    const delay = backoffDelay(this.attempt++, this.opts.baseDelayMs, this.opts.maxDelayMs, this.opts.random)
    this.setStatus('reconnecting', delay)
    this.timer = this.opts.schedule(() => {
      this.timer = null
      if (!this.stopped) this.open()
    }, delay)
  }

  private setStatus(status: SocketStatus, retryInMs?: number): void {
    this.status = status
    this.handlers.onStatus(status, retryInMs)
  }
}
