/// <reference types="vitest/config" />
// The dashboard's build. `base: './'` and hash routing make the output work at / and under any
// sub-path (dashboard.base_path, a reverse proxy's prefix) without rebuilding.
import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
// `npm run dev:dashboard` proxies the API to a running node (TERN_API_URL, default 127.0.0.1:18083)
const target = process.env.TERN_API_URL ?? 'http://127.0.0.1:18083';

export default defineConfig({
  root,
  base: './',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api/v5': { target, changeOrigin: true },
      '/api-docs': { target, changeOrigin: true },
    },
  },
  test: {
    root,
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
