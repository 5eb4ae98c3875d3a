/** Knowledge bases: collections, their documents (status followed live while ingesting), search. */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, errorMessage, writeHeaders, API_PREFIX } from '@/api/client'
import type { KnowledgeCollection, KnowledgeDocument, KnowledgePassage } from '@/api/contract'
import { t } from '@/i18n'

const POLL_MS = 1000

export const useKnowledgeStore = defineStore('knowledge', () => {
  const collections = ref<KnowledgeCollection[]>([])
  const selectedId = ref<string | null>(null)
  const documents = ref<KnowledgeDocument[]>([])
  const results = ref<KnowledgePassage[]>([])
  const error = ref<string | null>(null)
  const loading = ref(false)
  let timer: ReturnType<typeof setTimeout> | undefined

  const selected = computed(() => collections.value.find((c) => c.id === selectedId.value) ?? null)
  const ingesting = computed(() => documents.value.some((d) => d.status === 'queued' || d.status === 'processing'))

  async function load(): Promise<void> {
    loading.value = true
    const { data, error: failure } = await api.GET('/api/v1/knowledge')
    loading.value = false
    if (!data) {
      error.value = errorMessage(failure, t('failures.loadCollections'))
      return
    }
    error.value = null
    collections.value = data.data
    if (selectedId.value && !data.data.some((c) => c.id === selectedId.value)) selectedId.value = null
  }

  async function create(name: string, description = ''): Promise<KnowledgeCollection> {
    const { data, error: failure } = await api.POST('/api/v1/knowledge', { body: { name, description } })
    if (!data) throw new Error(errorMessage(failure, t('failures.createCollection')))
    collections.value = [data, ...collections.value]
    return data
  }

  async function remove(id: string): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/knowledge/{collection_id}', {
      params: { path: { collection_id: id } },
    })
    if (!response.ok) throw new Error(errorMessage(failure, t('failures.deleteCollection')))
    collections.value = collections.value.filter((c) => c.id !== id)
    if (selectedId.value === id) select(null)
  }

  async function select(id: string | null): Promise<void> {
    selectedId.value = id
    documents.value = []
    results.value = []
    if (id) await loadDocuments()
  }

  /** Reloads the open collection's documents; polls again while one is being ingested. */
  async function loadDocuments(): Promise<void> {
    clearTimeout(timer)
    const id = selectedId.value
    if (!id) return
    const { data, error: failure } = await api.GET('/api/v1/knowledge/{collection_id}/documents', {
      params: { path: { collection_id: id } },
    })
    if (id !== selectedId.value) return
    if (!data) {
      error.value = errorMessage(failure, t('failures.loadDocuments'))
      return
    }
    documents.value = data.data
    const collection = collections.value.find((c) => c.id === id)
    if (collection) collection.document_count = data.count
    if (ingesting.value) timer = setTimeout(() => void loadDocuments(), POLL_MS)
  }

  /** Uploads files one by one (multipart `file`); each appears at once with its status. */
  async function upload(files: File[]): Promise<void> {
    const id = selectedId.value
    if (!id) return
    error.value = null
    for (const file of files) {
      const body = new FormData()
      body.append('file', file, file.name)
      const response = await fetch(`${API_PREFIX}/knowledge/${encodeURIComponent(id)}/documents`, {
        method: 'POST',
        headers: writeHeaders(),
        credentials: 'same-origin',
        body,
      })
      if (!response.ok) {
        const detail = await response.json().catch(() => null)
        error.value = `${file.name}: ${errorMessage(detail, t('failures.uploadStatus', { status: response.status }))}`
      }
    }
    await loadDocuments()
  }

  async function removeDocument(documentId: string): Promise<void> {
    const id = selectedId.value
    if (!id) return
    const { error: failure, response } = await api.DELETE('/api/v1/knowledge/{collection_id}/documents/{document_id}', {
      params: { path: { collection_id: id, document_id: documentId } },
    })
    if (!response.ok) throw new Error(errorMessage(failure, t('failures.deleteDocument')))
    await loadDocuments()
  }

  async function search(query: string): Promise<void> {
    const id = selectedId.value
    if (!id || !query.trim()) {
      results.value = []
      return
    }
    const { data, error: failure } = await api.GET('/api/v1/knowledge/{collection_id}/search', {
      params: { path: { collection_id: id }, query: { query, limit: 8 } },
    })
    if (!data) {
      error.value = errorMessage(failure, t('failures.search'))
      return
    }
    results.value = data.data
  }

  function stop(): void {
    clearTimeout(timer)
  }

  return {
    collections,
    selectedId,
    selected,
    documents,
    results,
    error,
    loading,
    ingesting,
    load,
    create,
    remove,
    select,
    loadDocuments,
    upload,
    removeDocument,
    search,
    stop,
  }
})
