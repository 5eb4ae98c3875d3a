/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url'
import tailwindcss from '@tailwindcss/vite'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

const backend = process.env.ORCHESTRATOR_URL ?? 'http://127.0.0.1:8001'

export default defineConfig({
  plugins: [vue(), tailwindcss()],
  // vue-i18n's build flags: the Composition API only (no legacy API), no devtools in production.
  define: {
    __VUE_I18N_FULL_INSTALL__: true,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
  },
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  build: {
    // The backend serves this folder (src/orchestrator/web/static); `make` builds into it.
    outDir: fileURLToPath(new URL('../src/orchestrator/web/static', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
    rollupOptions: {
      output: {
        // "ChatTurn.vue_vue_type_script_setup_true_lang-<hash>.js" reads better as "ChatTurn-<hash>.js".
        chunkFileNames: (chunk) => `assets/${chunk.name.replace(/\.vue_vue_type.*$/, '')}-[hash].js`,
        // The Markdown renderer (markdown-it, DOMPurify) is shared by the chat and the run
        // timeline: one chunk under its own name, loaded by whichever opens first. (Only leaf
        // libraries here: naming a chunk that imports Vue would drag Vue out of the entry.)
        manualChunks: (id) =>
          /node_modules\/(markdown-it|mdurl|linkify-it|uc\.micro|punycode\.js|entities|dompurify)\//.test(id) ? 'markdown-vendor' : undefined,
      },
    },
  },
  server: {
    proxy: { '/api': { target: backend, ws: true } },
  },
  test: {
    environment: 'jsdom',
    include: ['tests/unit/**/*.spec.ts'],
    setupFiles: ['tests/unit/setup.ts'],
  },
})
