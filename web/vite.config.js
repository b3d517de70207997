// The dashboard is served by the controller under /ui/ from files embedded in the binary
// (crates/web). Fixed file names keep the committed bundle's diff readable and let
// scripts/check-web-bundle compare a fresh build with it file by file.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/ui/',
  build: {
    outDir: process.env.STEWARD_WEB_OUT || '../crates/web/dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      output: {
        entryFileNames: 'assets/app.js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
});
