import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.ts'],
    // One process per test file: native handles (brokers, engines) never leak between files.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
