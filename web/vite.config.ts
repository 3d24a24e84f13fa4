import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

// Served by the API at /admin (src/modules/admin); `npm run dev:web` proxies /api to a running `npm start`.
export default defineConfig({
  root,
  base: '/admin/',
  plugins: [react()],
  // recharts 2 + React 19: see src/shims/react-is.ts.
  resolve: { alias: [{ find: /^react-is$/, replacement: fileURLToPath(new URL('./src/shims/react-is.ts', import.meta.url)) }] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        // Charts are only needed by the dashboard and segment pages; keep them out of the first load.
        manualChunks: (id) => (id.includes('recharts') || id.includes('d3-') || id.includes('@mantine/charts') ? 'charts' : undefined),
      },
    },
  },
  server: { proxy: { '/api': 'http://localhost:8084' } },
});
