import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'packages/**/*.test.ts', 'web/e2e/**/*.test.ts'],
    globalSetup: ['src/test/global-setup.ts'],
    // PGlite instances are heavy (WASM); a few files at a time keeps a 2-core machine responsive.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
