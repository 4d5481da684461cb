import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * The database port: drizzle over PGlite (embedded) or postgres.js (server). Both speak the
 * same dialect, so verbs take this type and never know which one they run on.
 */
export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;
/** A transaction handle has the same query surface. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Migration {
  tag: string;
  sql: string;
}

/** What the database server can do; decided once at start-up. */
export interface DbCapabilities {
  /** pgvector is installed: HNSW search. Otherwise vector search is an exact scan. */
  vector: boolean;
  kind: 'pglite' | 'postgres';
}
