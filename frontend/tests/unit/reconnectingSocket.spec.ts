import { describe, expect, it } from 'vitest'
import { backoffDelay } from '@/lib/reconnectingSocket'

describe('backoffDelay', () => {
  it('doubles from the base delay up to the cap, with ±20% jitter', () => {
    const middle = () => 0.5
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 500, 15_000, middle))).toEqual([500, 1000, 2000, 4000, 8000, 15_000, 15_000])
    expect(backoffDelay(0, 1000, 15_000, () => 0)).toBe(800)
    expect(backoffDelay(0, 1000, 15_000, () => 1)).toBe(1200)
  })
})
