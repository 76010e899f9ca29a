import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    // One process per test file: native handles (brokers, engines) never leak between files.
    pool: 'forks',
    // dist/ is built once here, not per test file (parallel tsc runs raced with CLI children).
    globalSetup: ['__test__/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
