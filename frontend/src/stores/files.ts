/**
 * The user's workspace: folders as a lazily loaded tree, uploads (drag and drop or a
 * picker, into the open folder), downloads and zips as blobs through the typed client
 * (so they carry the session like every other call), deletes, and the file being previewed.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api, errorMessage } from '@/api/client'
import type { WorkspaceEntry } from '@/api/contract'
import { t } from '@/i18n'

export interface UploadState {
  name: string
  path: string
  status: 'uploading' | 'done' | 'failed'
  error?: string
}

/** "a/b/c.txt" -> "a/b"; a top-level name -> "." */
export function parentOf(path: string): string {
  const cut = path.lastIndexOf('/')
  return cut < 0 ? '.' : path.slice(0, cut)
}

/** Joins a folder and a name, "." being the workspace itself. */
export function joinPath(dir: string, name: string): string {
  return !dir || dir === '.' ? name : `${dir}/${name}`
}

/** Saves a blob under `name` through a temporary object URL. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = name
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

export const useFilesStore = defineStore('files', () => {
  /** Folder path -> its entries, for every folder loaded so far. */
  const folders = ref<Record<string, WorkspaceEntry[]>>({})
  const expanded = ref<Set<string>>(new Set(['.']))
  const current = ref('.')
  const selected = ref<WorkspaceEntry | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  const uploads = ref<UploadState[]>([])

  async function load(dir = current.value): Promise<boolean> {
    loading.value = true
    const { data, error: failure } = await api.GET('/api/v1/workspace/files', { params: { query: { path: dir } } })
    loading.value = false
    if (!data) {
      error.value = errorMessage(failure, t('failures.listFolder'))
      return false
    }
    error.value = null
    folders.value = { ...folders.value, [dir]: data.data }
    return true
  }

  /** Opens a folder in the main list (and expands it in the tree). */
  async function open(dir: string): Promise<void> {
    if (await load(dir)) {
      current.value = dir
      expanded.value = new Set([...expanded.value, dir])
    }
  }

  async function toggle(dir: string): Promise<void> {
    const next = new Set(expanded.value)
    if (next.has(dir)) next.delete(dir)
    else {
      next.add(dir)
      if (!folders.value[dir]) await load(dir)
    }
    expanded.value = next
  }

  /** Reloads every folder on screen (after an upload or a delete). */
  async function refresh(): Promise<void> {
    const open = [...new Set([current.value, ...expanded.value])]
    await Promise.all(open.map((dir) => load(dir)))
  }

  /** Uploads files into `dir` one by one; each one's outcome shows in `uploads`. */
  async function upload(files: File[], dir = current.value): Promise<void> {
    for (const file of files) {
      const path = joinPath(dir, file.name)
      const state: UploadState = { name: file.name, path, status: 'uploading' }
      uploads.value = [...uploads.value.filter((u) => u.path !== path), state]
      try {
        await putFile(path, file)
        state.status = 'done'
      } catch (failure) {
        state.status = 'failed'
        state.error = (failure as Error).message
      }
      uploads.value = [...uploads.value]
    }
    await refresh()
  }

  async function remove(entry: WorkspaceEntry): Promise<void> {
    const { error: failure, response } = await api.DELETE('/api/v1/workspace/files/{path}', {
      params: { path: { path: entry.path } },
    })
    if (!response.ok) throw new Error(errorMessage(failure, t('failures.deleteNamed', { name: entry.name })))
    if (selected.value && (selected.value.path === entry.path || selected.value.path.startsWith(`${entry.path}/`))) {
      selected.value = null
    }
    if (current.value === entry.path || current.value.startsWith(`${entry.path}/`)) current.value = parentOf(entry.path)
    const next = { ...folders.value }
    for (const key of Object.keys(next)) if (key === entry.path || key.startsWith(`${entry.path}/`)) delete next[key]
    folders.value = next
    await refresh()
  }

  async function download(entry: WorkspaceEntry): Promise<void> {
    saveBlob(await fetchBlob(entry.path), entry.name)
  }

  async function downloadZip(dir: string): Promise<void> {
    const { data, error: failure } = await api.GET('/api/v1/workspace/archive', {
      params: { query: { path: dir } },
      parseAs: 'blob',
    })
    if (!data) throw new Error(errorMessage(failure, t('failures.zipFolder')))
    const name = dir === '.' ? 'workspace' : dir.split('/').pop()
    saveBlob(data as Blob, `${name}.zip`)
  }

  function reset(): void {
    folders.value = {}
    expanded.value = new Set(['.'])
    current.value = '.'
    selected.value = null
    uploads.value = []
    error.value = null
  }

  return { folders, expanded, current, selected, loading, error, uploads, load, open, toggle, refresh, upload, remove, download, downloadZip, reset }
})

/** Stores one file at `path` (raw body); throws with the server's message when refused. */
export async function putFile(path: string, file: Blob): Promise<WorkspaceEntry> {
  const { data, error } = await api.PUT('/api/v1/workspace/files/{path}', {
    params: { path: { path } },
    body: file as unknown as never,
    bodySerializer: (body: unknown) => body as BodyInit,
    headers: { 'Content-Type': file.type || 'application/octet-stream' },
  })
  if (!data) throw new Error(errorMessage(error, t('failures.upload', { name: path })))
  return data
}

/** A workspace file's bytes; throws with the server's message when refused. */
export async function fetchBlob(path: string): Promise<Blob> {
  const { data, error } = await api.GET('/api/v1/workspace/files/{path}', {
    params: { path: { path } },
    parseAs: 'blob',
  })
  if (!data) throw new Error(errorMessage(error, t('failures.open', { name: path })))
  return data as Blob
}
