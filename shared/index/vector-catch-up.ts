import { sql } from 'drizzle-orm';
import { rowsOf } from '../db/migrate';
import type { DbCapabilities, DbOrTx } from '../db/types';
import type { IndexTables } from './schema';
import { chunksTableSql, VECTOR_COLUMN_DIMENSIONS } from './schema';

/**
 * The HNSW graph catches up behind the index step (DESIGN §5, drizzle/tenant/0007).
 *
 * The index step stores each chunk's `embedding real[]` and leaves `embedding_vec` NULL, because
 * adding a row to an HNSW graph costs milliseconds in PGlite, several times the rest of the step.
 * Search finds those rows with an exact scan (through the partial index `chunks_vector_pending`),
 * so nothing waits on this: it only moves rows from the exact path to the graph. Drivers call it
 * when the tenant's pipeline has nothing due, a small batch at a time, so PGlite (one query at a
 * time) is never held for long.
 */
export const VECTOR_CATCH_UP_BATCH = 32;

/** Moves up to `limit` waiting chunks into the HNSW graph; returns how many it moved. */
export async function catchUpVectors(db: DbOrTx, tables: IndexTables, capabilities: DbCapabilities, limit = VECTOR_CATCH_UP_BATCH): Promise<number> {
  if (!capabilities.vector) return 0;
  const table = chunksTableSql(tables);
  const moved = await db.execute<{ chunk_id: string }>(sql`
    UPDATE ${table} SET embedding_vec = embedding::vector(${sql.raw(String(VECTOR_COLUMN_DIMENSIONS))})
    WHERE chunk_id IN (
      SELECT chunk_id FROM ${table}
      WHERE embedding_vec IS NULL AND embed_dimensions = ${VECTOR_COLUMN_DIMENSIONS}
      LIMIT ${limit})
    RETURNING chunk_id`);
  return rowsOf(moved).length;
}

/** Chunks still outside the HNSW graph (searched exactly until they are in). */
export async function pendingVectors(db: DbOrTx, tables: IndexTables, capabilities: DbCapabilities): Promise<number> {
  if (!capabilities.vector) return 0;
  const rows = rowsOf<{ n: number }>(await db.execute(sql`
    SELECT count(*)::int AS n FROM ${chunksTableSql(tables)} WHERE embedding_vec IS NULL AND embed_dimensions = ${VECTOR_COLUMN_DIMENSIONS}`));
  return Number(rows[0]?.n ?? 0);
}
