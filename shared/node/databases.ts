import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import type { Db, DbCapabilities } from '../db/types';

export { openPostgres, type OpenDb } from '../db/postgres';
import type { OpenDb } from '../db/postgres';

/**
 * The embedded database: one PGlite instance (with pgvector) for the control plane and every
 * tenant's schema. `dataDir` undefined means in memory (tests).
 */
export async function openPglite(dataDir?: string, opts: { loadDataDir?: Blob } = {}): Promise<OpenDb & { pg: PGlite }> {
  // Options must be the only argument when there is no data dir: PGlite(undefined, opts) drops them.
  // 256 MB of buffers keeps a 100k-chunk tenant's HNSW index (~200 MB) resident: p95 23 → 17 ms.
  const options = { extensions: { vector }, postgresqlconf: ["shared_buffers = '256MB'"], ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}) };
  const pg = dataDir ? new PGlite(dataDir, options) : new PGlite(options);
  await pg.waitReady;
  // HNSW builds are memory-bound: at PGlite's default 64 MB a 100k-row build took 15 min here.
  await pg.exec(`CREATE EXTENSION IF NOT EXISTS vector; SET maintenance_work_mem = '512MB'`);
  const db = drizzlePglite(pg) as unknown as Db;
  return { db, pg, capabilities: { vector: true, kind: 'pglite' }, close: () => pg.close() };
}

