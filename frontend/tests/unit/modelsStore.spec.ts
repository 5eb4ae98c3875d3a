import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { readNdjson } from '@/lib/ndjson'
import { pullPercent, useModelsStore } from '@/stores/models'

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
let routes: Record<string, (request: Request) => Response | Promise<Response>> = {}

/** A body that arrives in the pieces given (split mid-line on purpose). */
function chunked(pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder()
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece))
      controller.close()
    },
  })
}

beforeEach(() => {
  setActivePinia(createPinia())
  routes = {}
  vi.stubGlobal('fetch', async (request: Request) => {
    const url = new URL(request.url)
    const handler = routes[`${request.method} ${url.pathname}`]
    return handler ? handler(request) : json({ detail: 'Not Found' }, 404)
  })
})
afterEach(() => vi.unstubAllGlobals())

describe('readNdjson', () => {
  it('hands over each line even when a line is split across chunks', async () => {
    const seen: unknown[] = []
    await readNdjson(chunked(['{"a":', '1}\n{"b"', ':2}\n\n{"c":3}']), (v) => seen.push(v))
    expect(seen).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }])
  })
})

describe('models store', () => {
  it('follows a pull to success and lists the models again', async () => {
    let listed = 0
    routes['GET /api/v1/system/models'] = () => json({ data: [], count: listed++ })
    routes['POST /api/v1/models/pull'] = () =>
      new Response(
        chunked([
          '{"status":"pulling manifest"}\n{"status":"pulling abc","digest":"sha256:abc","total":200,"completed":50}\n',
          '{"status":"pulling abc","digest":"sha256:abc","total":200,"completed":200}\n{"status":"success"}\n',
        ]),
        { status: 200, headers: { 'Content-Type': 'application/x-ndjson' } },
      )
    const store = useModelsStore()
    expect(await store.pull('c1', 'qwen3:0.6b')).toBe(true)
    const pull = store.pulls.c1!
    expect(pull).toMatchObject({ model: 'qwen3:0.6b', status: 'success', total: 200, completed: 200, done: true, error: null })
    expect(pullPercent(pull)).toBe(100)
    expect(listed).toBe(1)
  })

  it('shows the server reason when a model does not exist', async () => {
    routes['POST /api/v1/models/pull'] = () =>
      json({ detail: "Ollama at http://h found no model 'nope' to pull (pull model manifest: file does not exist)", code: 'model_not_found' }, 404)
    const store = useModelsStore()
    expect(await store.pull('c1', 'nope')).toBe(false)
    expect(store.pulls.c1).toMatchObject({ status: 'error', done: true })
    expect(store.pulls.c1!.error).toContain('file does not exist')
  })

  it('reports an error line in the middle of a pull', async () => {
    routes['POST /api/v1/models/pull'] = () =>
      new Response(chunked(['{"status":"pulling abc","total":10,"completed":5}\n{"status":"error","error":"disk full"}\n']), { status: 200 })
    const store = useModelsStore()
    expect(await store.pull('c1', 'big')).toBe(false)
    expect(store.pulls.c1).toMatchObject({ status: 'error', error: 'disk full', done: true })
  })

  it('adds a connection with its health and keeps the reason it is unreachable', async () => {
    const made = {
      id: 'c2', kind: 'ollama', name: 'gpu', base_url: 'http://gpu:11434', has_api_key: false, enabled: true,
      created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z',
      health: { status: 'unreachable', detail: 'cannot reach Ollama at http://gpu:11434' },
    }
    routes['POST /api/v1/models/connections'] = () => json(made, 201)
    routes['GET /api/v1/system/models'] = () => json({ data: [], count: 0 })
    const store = useModelsStore()
    expect(await store.create({ kind: 'ollama', name: 'gpu', base_url: 'http://gpu:11434', enabled: true })).toEqual(made)
    expect(store.connections[0]!.health.detail).toContain('cannot reach')
  })
})
