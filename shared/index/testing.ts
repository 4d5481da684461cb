import { sql } from 'drizzle-orm';
import { applyMigrations } from '../db/migrate';
import type { Db, DbCapabilities } from '../db/types';
import { openPglite, openPostgres } from '../node/databases';
import { loadMigrations } from '../node/migrations';

/**
 * Tests and benchmarks only (Node: it reads the migration files). Never import from runtime code.
 */

/**
 * Creates a tenant schema with the production tenant migrations (drizzle/tenant), so tests and
 * benchmarks run on exactly the tables, vector column and indexes a tenant gets. `withHnsw: false`
 * drops the HNSW index afterwards: bulk loads build it once at the end, much faster than growing
 * it row by row.
 */
export async function createIndexSchema(db: Db, schemaName: string, opts: { withHnsw?: boolean } = {}) {
  await applyMigrations(db, loadMigrations('tenant'), { schema: schemaName, tenantSchema: schemaName });
  if (opts.withHnsw === false) await db.execute(sql.raw(`DROP INDEX IF EXISTS "${schemaName}"."chunks_embedding_hnsw"`));
}

export interface IndexTestDb {
  db: Db;
  capabilities: DbCapabilities;
  close(): Promise<void>;
}

/** PGlite in memory (with pgvector) or the PostgreSQL server (here without pgvector). */
export async function openIndexTestDb(kind: 'pglite' | 'postgres', databaseUrl: string): Promise<IndexTestDb> {
  return kind === 'pglite' ? openPglite() : openPostgres(databaseUrl, { max: 4 });
}

export async function dropSchema(db: Db, schemaName: string) {
  await db.execute(sql.raw(`DROP SCHEMA IF EXISTS "${schemaName.replaceAll('"', '""')}" CASCADE`));
}
