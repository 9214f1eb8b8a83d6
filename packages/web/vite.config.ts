import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The dashboard is built into dist/ (by `npm ci` through the root `prepare`, or `npm run build:web`)
// and served by the manager from the operator port; nothing is fetched from elsewhere at run time.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The manager serves the page's files from /assets/ only.
    assetsDir: 'assets',
    // Inlined assets would need data: URLs in the content security policy; none are worth it.
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
