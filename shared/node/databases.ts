import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Db, DbCapabilities } from '../db/types';

export interface OpenDb {
  db: Db;
  capabilities: DbCapabilities;
  close(): Promise<void>;
}

/**
 * The embedded database: one PGlite instance (with pgvector) for the control plane and every
 * tenant's schema. `dataDir` undefined means in memory (tests).
 */
export async function openPglite(dataDir?: string, opts: { loadDataDir?: Blob } = {}): Promise<OpenDb & { pg: PGlite }> {
  // Options must be the only argument when there is no data dir: PGlite(undefined, opts) drops them.
  const options = { extensions: { vector }, ...(opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {}) };
  const pg = dataDir ? new PGlite(dataDir, options) : new PGlite(options);
  await pg.waitReady;
  // HNSW builds are memory-bound: at PGlite's default 64 MB a 100k-row build took 15 min here.
  await pg.exec(`CREATE EXTENSION IF NOT EXISTS vector; SET maintenance_work_mem = '512MB'`);
  const db = drizzlePglite(pg) as unknown as Db;
  return { db, pg, capabilities: { vector: true, kind: 'pglite' }, close: () => pg.close() };
}

/** A PostgreSQL server over TCP. `max` bounds the pool per database. */
export async function openPostgres(url: string, opts: { max?: number } = {}): Promise<OpenDb & { client: postgres.Sql }> {
  const client = postgres(url, { max: opts.max ?? 10, onnotice: () => {}, idle_timeout: 30 });
  const db = drizzlePostgres(client) as unknown as Db;
  const ext = await client`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`;
  return { db, client, capabilities: { vector: ext.length > 0, kind: 'postgres' }, close: () => client.end({ timeout: 5 }) };
}
