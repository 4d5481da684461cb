import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['shared/**/*.test.ts', 'tests/**/*.test.ts', 'functions/**/*.test.ts'],
          exclude: ['tests/workers/**', 'node_modules/**'],
          globalSetup: ['tests/harness/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Two cores here: PGlite instances and parser workers are heavy, so files run two at a time.
          maxWorkers: 2,
        },
      },
    ],
  },
});
