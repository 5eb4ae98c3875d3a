/** Routes; every view is its own chunk. Signed-out visitors go to /login and come back after. */
import { createRouter, createWebHistory, type Router } from 'vue-router'
import { i18n, t } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    admin?: boolean // admins only; others go to the start page
    title?: string // a message key (nav.runs...); a plain title is shown as it is
  }
}

/** The browser tab's title for a route, in the app's language. */
export function pageTitle(title: string | undefined): string {
  if (!title) return 'AI Orchestrator'
  return `${i18n.global.te(title) ? t(title) : title} · AI Orchestrator`
}

export function buildRouter(): Router {
  const router = createRouter({
    history: createWebHistory(),
    routes: [
      { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true, title: 'login.signIn' } },
      {
        path: '/',
        component: () => import('@/components/AppLayout.vue'),
        children: [
          { path: '', name: 'new-chat', component: () => import('@/views/ChatView.vue'), meta: { title: 'chat.newChat' } },
          { path: 'c/:id', name: 'chat', component: () => import('@/views/ChatView.vue'), meta: { title: 'chat.title' } },
          { path: 'dashboard', name: 'dashboard', component: () => import('@/views/DashboardView.vue'), meta: { title: 'nav.dashboard' } },
          { path: 'runs', name: 'runs', component: () => import('@/views/RunsView.vue'), meta: { title: 'nav.runs' } },
          { path: 'runs/:id', name: 'run', component: () => import('@/views/RunDetailView.vue'), meta: { title: 'run.title' } },
          { path: 'agents', name: 'agents', component: () => import('@/views/AgentsView.vue'), meta: { title: 'nav.agents' } },
          { path: 'files', name: 'files', component: () => import('@/views/FilesView.vue'), meta: { title: 'nav.files' } },
          { path: 'memory', name: 'memory', component: () => import('@/views/MemoryView.vue'), meta: { title: 'nav.memory' } },
          { path: 'schedules', name: 'schedules', component: () => import('@/views/SchedulesView.vue'), meta: { title: 'schedules.title' } },
          { path: 'knowledge', name: 'knowledge', component: () => import('@/views/KnowledgeView.vue'), meta: { title: 'nav.knowledge' } },
          { path: 'tools', name: 'tools', component: () => import('@/views/ToolsView.vue'), meta: { title: 'nav.tools' } },
          { path: 'models', name: 'models', component: () => import('@/views/ModelsView.vue'), meta: { title: 'nav.models' } },
          { path: 'mcp', name: 'mcp', component: () => import('@/views/McpView.vue'), meta: { title: 'nav.mcp' } },
          { path: 'usage', name: 'usage', component: () => import('@/views/UsageView.vue'), meta: { title: 'nav.usage' } },
          { path: 'audit', name: 'audit', component: () => import('@/views/AuditView.vue'), meta: { title: 'nav.audit', admin: true } },
          { path: 'settings', name: 'settings', component: () => import('@/views/SettingsView.vue'), meta: { title: 'nav.settings' } },
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
    if (await auth.restore()) return !to.meta.admin || auth.isAdmin || { path: '/' }
    return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  })
  router.afterEach((to) => {
    document.title = pageTitle(to.meta.title)
  })
  return router
}
