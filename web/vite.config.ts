// Builds the web UI to web/dist: static files that `dromos apps` (:8080) and the master
// (:5050) serve at /. `npx vite web` serves it in development, with the APIs proxied.
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

const apps = process.env.DROMOS_APPS ?? process.env.DROMOS_APPS_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: { proxy: { '/v2': apps, '/dromos': apps, '/ping': apps } },
})
