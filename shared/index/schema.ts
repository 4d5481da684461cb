import { sql, type SQL } from 'drizzle-orm';
import { getTableConfig, customType, index, integer, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type { ElementType } from '../parse/types';
import { TEMPLATE_SCHEMA } from '../db/schema/template';

/**
 * Index storage of one tenant (DESIGN §5), in the tenant's schema beside its batches and files.
 *
 * `embedding real[]` is always present so search works on any PostgreSQL. Where pgvector is
 * available, the tenant migrations add `embedding_vec vector(384)` plus an HNSW index over it
 * (drizzle/tenant/0002, 0007); drizzle does not model it because it exists only on some servers.
 * Inserts leave it NULL and shared/index/vector-catch-up.ts fills it from `embedding`.
 */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** Read-only: PostgreSQL computes it from `text`. */
const tsvector = customType<{ data: string }>({
  dataType() {
    return 'tsvector';
  },
});

/**
 * `real[]` handed to the driver as a plain number array, not the text literal drizzle would
 * build: postgres.js serialises it itself, and PGlite sends it in binary (shared/node/databases.ts),
 * which spares it parsing 384 decimal floats per chunk.
 */
const float4Array = customType<{ data: number[]; driverData: number[] }>({
  dataType() {
    return 'real[]';
  },
});

/** Dimensions of the `embedding_vec` column that the HNSW index covers. */
export const VECTOR_COLUMN_DIMENSIONS = 384;

export function buildIndexTables(schemaName: string) {
  const s = pgSchema(schemaName);

  const chunks = s.table(
    'chunks',
    {
      /** `chk_` + hash of (doc_id, page, start_char, end_char): re-chunking the same text gives the same id. */
      chunkId: text('chunk_id').primaryKey(),
      docId: text('doc_id').notNull(),
      batchId: text('batch_id').notNull(),
      fileId: text('file_id').notNull(),
      originalFilename: text('original_filename').notNull(),
      /** Detected type of the original (from its bytes, not the manifest). */
      mimeType: text('mime_type').notNull(),
      /** sha256 of the original bytes the vendor sent. */
      sourceSha256: text('source_sha256').notNull(),
      /** First page (1-based) the chunk touches. */
      page: integer('page').notNull(),
      /** UTF-16 code-unit offsets into the canonical full text: `full_text.slice(start_char, end_char) === text`. */
      startChar: integer('start_char').notNull(),
      endChar: integer('end_char').notNull(),
      elementTypes: text('element_types').array().$type<ElementType[]>().notNull(),
      sectionTitle: text('section_title'),
      text: text('text').notNull(),
      tsv: tsvector('tsv').generatedAlwaysAs(sql`to_tsvector('english', "text")`),
      /** Unit-length vector (cosine = dot product); length = embed_dimensions. */
      embedding: float4Array('embedding').notNull(),
      embedModel: text('embed_model').notNull(),
      embedVersion: text('embed_version').notNull(),
      embedDimensions: integer('embed_dimensions').notNull(),
      /** When the original was received (the `date_range` filter of search). */
      ingestedAt: ts('ingested_at').notNull(),
      createdAt: ts('created_at').notNull(),
    },
    (t) => [
      index('chunks_doc').on(t.docId, t.startChar),
      index('chunks_batch').on(t.batchId),
      index('chunks_ingested').on(t.ingestedAt),
      index('chunks_tsv').using('gin', t.tsv),
    ],
  );

  /**
   * Idempotent pipeline steps (DESIGN §3): a step whose key is present has done its work, and a
   * redelivered message for it is acknowledged without doing anything.
   */
  const stepRuns = s.table(
    'step_runs',
    {
      docId: text('doc_id').notNull(),
      step: text('step').notNull(),
      inputSha256: text('input_sha256').notNull(),
      codeVersion: text('code_version').notNull(),
      /** The step's output hash (e.g. the chunk-set hash of the index step), for the audit chain. */
      outputSha256: text('output_sha256').notNull(),
      completedAt: ts('completed_at').notNull(),
    },
    (t) => [primaryKey({ name: 'step_runs_pk', columns: [t.docId, t.step, t.inputSha256, t.codeVersion] })],
  );

  return { chunks, stepRuns };
}

export type IndexTables = ReturnType<typeof buildIndexTables>;

/** `"schema"."chunks"` for hand-written SQL (search, vector catch-up). */
export function chunksTableSql(tables: IndexTables): SQL {
  const { schema, name } = getTableConfig(tables.chunks);
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return sql.raw(schema ? `${quote(schema)}.${quote(name)}` : quote(name));
}

/** The template drizzle-kit generates migrations from; tenant schemas substitute the name. */
const template = buildIndexTables(TEMPLATE_SCHEMA);
export const { chunks, stepRuns } = template;
