import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// `npm run dev` proxies the API and /cluster to a local node (KAA_ADMIN_URL, default http://127.0.0.1:8080).
const target = process.env.KAA_ADMIN_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: false, chunkSizeWarningLimit: 700 },
  server: { proxy: { '/api': target, '/cluster': target } },
  test: { include: ['tests/unit/**/*.test.ts'], environment: 'node' },
});
