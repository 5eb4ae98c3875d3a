/** Routes; every view is its own chunk. Signed-out visitors go to /login and come back after. */
import { createRouter, createWebHistory, type Router } from 'vue-router'
import { useAuthStore } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    title?: string
  }
}

export function buildRouter(): Router {
  const router = createRouter({
    history: createWebHistory(),
    routes: [
      { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true, title: 'Sign in' } },
      {
        path: '/',
        component: () => import('@/components/AppLayout.vue'),
        children: [
          { path: '', name: 'new-chat', component: () => import('@/views/ChatView.vue'), meta: { title: 'New chat' } },
          { path: 'c/:id', name: 'chat', component: () => import('@/views/ChatView.vue'), meta: { title: 'Chat' } },
          { path: 'dashboard', name: 'dashboard', component: () => import('@/views/DashboardView.vue'), meta: { title: 'Dashboard' } },
          { path: 'runs', name: 'runs', component: () => import('@/views/RunsView.vue'), meta: { title: 'Runs' } },
          { path: 'runs/:id', name: 'run', component: () => import('@/views/RunDetailView.vue'), meta: { title: 'Run' } },
          { path: 'agents', name: 'agents', component: () => import('@/views/AgentsView.vue'), meta: { title: 'Agents' } },
          { path: 'files', name: 'files', component: () => import('@/views/FilesView.vue'), meta: { title: 'Files' } },
          { path: 'memory', name: 'memory', component: () => import('@/views/MemoryView.vue'), meta: { title: 'Memory' } },
          { path: 'knowledge', name: 'knowledge', component: () => import('@/views/KnowledgeView.vue'), meta: { title: 'Knowledge' } },
          { path: 'tools', name: 'tools', component: () => import('@/views/ToolsView.vue'), meta: { title: 'Tools' } },
          { path: 'models', name: 'models', component: () => import('@/views/ModelsView.vue'), meta: { title: 'Models' } },
          { path: 'mcp', name: 'mcp', component: () => import('@/views/McpView.vue'), meta: { title: 'MCP servers' } },
          { path: 'settings', name: 'settings', component: () => import('@/views/SettingsView.vue'), meta: { title: 'Settings' } },
        ],
      },
      { path: '/:rest(.*)*', redirect: '/' },
    ],
  })

  router.beforeEach(async (to) => {
    const auth = useAuthStore()
    if (to.meta.public) {
      if (to.name === 'login' && (await auth.restore())) return { path: '/' }
      return true
    }
    if (await auth.restore()) return true
    return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  })
  router.afterEach((to) => {
    document.title = to.meta.title ? `${to.meta.title} · AI Orchestrator` : 'AI Orchestrator'
  })
  return router
}
