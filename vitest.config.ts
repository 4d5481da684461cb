import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Root-level only in vitest 4. postgres.js's Workers build (postgres/cf, loaded only by the
    // workers project) rejects a promise nobody holds whenever a connection is ended
    // (porsager/postgres#1202); the Worker never ends its own, but tenant provisioning does.
    onUnhandledError: (error) => !(error.message === 'Stream was cancelled.' && /postgres\/cf\/polyfills/.test(error.stack ?? '')),
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['shared/**/*.test.ts', 'tests/**/*.test.ts', 'functions/**/*.test.ts'],
          exclude: ['tests/workers/**', 'node_modules/**'],
          globalSetup: ['tests/harness/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          // Two cores here: PGlite instances and parser workers are heavy, so files run two at a time.
          maxWorkers: 2,
        },
      },
      {
        // The Worker (wrangler.toml) inside workerd, against the real PostgreSQL server, s3rver and
        // a QStash double that tests/workers/global-setup.ts starts and hands over as bindings.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: { bindings: inject('workersBindings') },
          })),
        ],
        // The same XML-parser substitution as wrangler.toml's [alias] (workerd has no DOMParser).
        resolve: { alias: { '@aws-sdk/xml-builder': fileURLToPath(new URL('./functions/worker/aws-xml-builder.js', import.meta.url)) } },
        test: {
          name: 'workers',
          include: ['tests/workers/**/*.test.ts'],
          globalSetup: ['tests/workers/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // After the node project (two cores): vitest requires a group of its own for a different maxWorkers.
          sequence: { groupOrder: 1 },
          maxWorkers: 1,
        },
      },
    ],
  },
});
