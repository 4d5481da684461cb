import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { sql } from 'drizzle-orm';
import { applyMigrations } from '../db/migrate';
import { TEMPLATE_SCHEMA } from '../db/schema/template';
import type { Db, DbCapabilities, Migration } from '../db/types';
import { openPglite, openPostgres } from '../node/databases';
import * as indexSchema from './schema';

/**
 * Tests and benchmarks only (drizzle-kit is a dev dependency; never import this from runtime code).
 * Builds the index tables exactly as drizzle-kit generates them for the tenant migrations, until
 * the generated tenant migration includes shared/index/schema.ts. `vectorMigrationSql` is the text
 * of vector-migration.sql, read by the (Node) caller.
 */
export async function buildIndexMigrations(vectorMigrationSql: string, opts: { withHnsw?: boolean } = {}): Promise<Migration[]> {
  const empty = generateDrizzleJson({});
  const current = generateDrizzleJson({ ...indexSchema }, undefined, [TEMPLATE_SCHEMA]);
  const statements = await generateMigration(empty, current);
  // Benchmarks load first and build HNSW afterwards, much faster than growing it row by row.
  const vector =
    opts.withHnsw === false ? vectorMigrationSql.replace(/\n\s*EXECUTE 'CREATE INDEX IF NOT EXISTS "chunks_embedding_hnsw"[^\n]*/, '') : vectorMigrationSql;
  return [
    { tag: '9000_index_tables', sql: statements.join('\n--> statement-breakpoint\n') },
    { tag: '9001_index_vector', sql: vector },
  ];
}

/** Creates a tenant-like schema holding the index tables (plus the vector column where available). */
export async function createIndexSchema(db: Db, schemaName: string, vectorMigrationSql: string, opts: { withHnsw?: boolean } = {}) {
  await applyMigrations(db, await buildIndexMigrations(vectorMigrationSql, opts), { schema: schemaName, tenantSchema: schemaName });
}

export interface IndexTestDb {
  db: Db;
  capabilities: DbCapabilities;
  close(): Promise<void>;
}

/**
 * PGlite in memory (with pgvector) or the PostgreSQL server. `memory://` rather than no data dir:
 * PGlite 0.5 drops the options (and so the vector extension) when the first argument is undefined.
 */
export async function openIndexTestDb(kind: 'pglite' | 'postgres', databaseUrl: string): Promise<IndexTestDb> {
  return kind === 'pglite' ? openPglite('memory://') : openPostgres(databaseUrl, { max: 4 });
}

export async function dropSchema(db: Db, schemaName: string) {
  await db.execute(sql.raw(`DROP SCHEMA IF EXISTS "${schemaName.replaceAll('"', '""')}" CASCADE`));
}
