import { and, eq, sql, type SQL } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import type { Clock } from '../clock';
import { textHasher } from '../audit/hashing';
import type { DbOrTx } from '../db/types';
import type { Sha256Factory } from '../hash';
import type { ParsedDocument } from '../parse/types';
import type { Chunk, ChunkOptions } from './chunk';
import { chunkDocument } from './chunk';
import type { Embedder } from './embedder';
import { normalize } from './embedder';
import type { IndexTables } from './schema';

/** Where a document's chunks came from; copied onto every chunk so a hit cites its source alone. */
export interface ChunkLineage {
  batchId: string;
  fileId: string;
  originalFilename: string;
  /** Detected type of the original. */
  mimeType: string;
  /** sha256 of the original bytes. */
  sourceSha256: string;
  /** When the original was received: the search `date_range` filters on it. */
  ingestedAt: Date;
}

export interface ChunkEmbeddings {
  model: string;
  version: string;
  dimensions: number;
  /** One per chunk, same order. */
  vectors: Float32Array[];
}

/** Rows per INSERT: bounds one statement's arrays (the vectors of 200 chunks are ~300 KB). */
const INSERT_BATCH = 200;

/**
 * One INSERT of a document's chunks with a fixed number of parameters, whatever the number of
 * rows: what differs per chunk travels as one array per column, unnested in order, and the
 * vectors as one flat `real[]` sliced per row; what every chunk shares (lineage, embedder) is
 * bound once. Binding 20 parameters per row cost more than the insert itself (each one is built,
 * typed and serialised in JavaScript), and a statement per row count would be planned anew for
 * each count. `element_types` are joined with commas: they are fixed words without one. Times go
 * as ISO text: the drivers leave timestamp parameters to drizzle's column mapping, absent here.
 */
function insertChunksSql(
  table: IndexTables['chunks'],
  docId: string,
  chunks: Chunk[],
  vectors: Float32Array[],
  embeddings: ChunkEmbeddings,
  opts: { lineage: ChunkLineage; now: Date },
): SQL {
  const dims = embeddings.dimensions;
  const flat = new Array<number>(chunks.length * dims);
  vectors.forEach((v, i) => {
    for (let d = 0; d < dims; d++) flat[i * dims + d] = v[d];
  });
  const column = (c: { name: string }) => sql.identifier(c.name);
  // One parameter holding the column's values (a bare array would become one parameter each).
  const list = (value: (c: Chunk) => unknown) => sql.param(chunks.map(value));
  const t = table;
  const { lineage } = opts;
  return sql`INSERT INTO ${t} (${column(t.chunkId)}, ${column(t.docId)}, ${column(t.batchId)}, ${column(t.fileId)}, ${column(t.originalFilename)},
      ${column(t.mimeType)}, ${column(t.sourceSha256)}, ${column(t.page)}, ${column(t.startChar)}, ${column(t.endChar)}, ${column(t.elementTypes)},
      ${column(t.sectionTitle)}, ${column(t.text)}, ${column(t.embedding)}, ${column(t.embedModel)}, ${column(t.embedVersion)}, ${column(t.embedDimensions)},
      ${column(t.ingestedAt)}, ${column(t.createdAt)})
    SELECT u.chunk_id, ${docId}::text, ${lineage.batchId}::text, ${lineage.fileId}::text, ${lineage.originalFilename}::text,
      ${lineage.mimeType}::text, ${lineage.sourceSha256}::text, u.page, u.start_char, u.end_char, string_to_array(u.element_types, ','),
      u.section_title, u.text, (${sql.param(flat)}::real[])[(u.n - 1) * ${dims}::int + 1 : u.n * ${dims}::int], ${embeddings.model}::text, ${embeddings.version}::text, ${dims}::int,
      ${lineage.ingestedAt.toISOString()}::timestamptz, ${opts.now.toISOString()}::timestamptz
    FROM unnest(${list((c) => c.chunk_id)}::text[], ${list((c) => c.page)}::int[], ${list((c) => c.start_char)}::int[],
      ${list((c) => c.end_char)}::int[], ${list((c) => c.element_types.join(','))}::text[], ${list((c) => c.section_title)}::text[],
      ${list((c) => c.text)}::text[]) WITH ORDINALITY AS u(chunk_id, page, start_char, end_char, element_types, section_title, text, n)`;
}

export async function embedChunks(embedder: Embedder, chunks: Chunk[]): Promise<ChunkEmbeddings> {
  const vectors = chunks.length ? await embedder.embed(chunks.map((c) => c.text)) : [];
  return { model: embedder.model, version: embedder.version, dimensions: embedder.dimensions, vectors };
}

/**
 * Makes `chunks` the whole index of `docId`: its previous chunks are deleted and these inserted in
 * one transaction (a savepoint when `db` is already a transaction), so re-indexing never
 * duplicates and a reader sees either the old set or the new one. Concurrent re-indexes of the
 * same document queue behind a transaction-scoped advisory lock.
 *
 * Returns the chunk-set hash, the index step's `output_hash` in the provenance chain.
 * Throws (never retry) when the embeddings do not fit the chunks: a wrong count or width, a
 * zero or non-finite vector.
 */
export async function replaceDocumentChunks(
  db: DbOrTx,
  tables: IndexTables,
  docId: string,
  chunks: Chunk[],
  embeddings: ChunkEmbeddings,
  opts: { lineage: ChunkLineage; now: Date; sha256?: Sha256Factory },
): Promise<string> {
  const vectors = checkEmbeddings(docId, chunks, embeddings);
  const { chunks: table } = tables;
  const lockKey = `${getTableConfig(table).schema ?? ''}.${docId}`;
  await db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${lockKey}, 0))`);
    await tx.delete(table).where(eq(table.docId, docId));
    for (let i = 0; i < chunks.length; i += INSERT_BATCH) {
      await tx.execute(insertChunksSql(table, docId, chunks.slice(i, i + INSERT_BATCH), vectors.slice(i, i + INSERT_BATCH), embeddings, opts));
    }
  });
  return chunkSetHash(chunks, opts.sha256);
}

/**
 * sha256 over the sorted lines `chunk_id SP sha256(text) LF`: the same chunks give the same hash
 * whatever their order, and any change of an id (offsets, page) or a text changes it. With the
 * runtime's native `sha256` the texts are hashed on this thread, not one WebCrypto round trip each.
 */
export async function chunkSetHash(chunks: Pick<Chunk, 'chunk_id' | 'text'>[], sha256?: Sha256Factory): Promise<string> {
  const hash = textHasher(sha256);
  const digests = await Promise.all(chunks.map((c) => hash(c.text)));
  const lines = chunks.map((c, i) => `${c.chunk_id} ${digests[i]}\n`);
  lines.sort();
  return hash(lines.join(''));
}

/**
 * The index step's work for one parsed document: chunk, embed (outside any transaction: a remote
 * embedder may take seconds), then replace the document's chunks.
 */
export async function indexParsedDocument(
  ctx: { db: DbOrTx; tables: IndexTables; embedder: Embedder; clock: Clock; sha256?: Sha256Factory },
  input: { doc: ParsedDocument; lineage: ChunkLineage; chunking?: ChunkOptions },
): Promise<{ chunkSetHash: string; chunkCount: number }> {
  const chunks = await chunkDocument(input.doc, input.chunking, ctx.sha256);
  const embeddings = await embedChunks(ctx.embedder, chunks);
  const hash = await replaceDocumentChunks(ctx.db, ctx.tables, input.doc.doc_id, chunks, embeddings, {
    lineage: input.lineage,
    now: ctx.clock.now(),
    sha256: ctx.sha256,
  });
  return { chunkSetHash: hash, chunkCount: chunks.length };
}

function checkEmbeddings(docId: string, chunks: Chunk[], embeddings: ChunkEmbeddings): Float32Array[] {
  if (embeddings.vectors.length !== chunks.length) {
    throw new Error(`${docId}: ${embeddings.vectors.length} embeddings for ${chunks.length} chunks`);
  }
  const ids = new Set<string>();
  return chunks.map((c, i) => {
    if (c.doc_id !== docId) throw new Error(`chunk ${c.chunk_id} belongs to ${c.doc_id}, not ${docId}`);
    if (ids.has(c.chunk_id)) throw new Error(`${docId}: chunk id ${c.chunk_id} appears twice`);
    ids.add(c.chunk_id);
    const v = embeddings.vectors[i];
    if (v.length !== embeddings.dimensions) {
      throw new Error(`${docId}: embedding of ${c.chunk_id} has ${v.length} dimensions, expected ${embeddings.dimensions}`);
    }
    try {
      return normalize(v);
    } catch {
      throw new Error(`${docId}: embedding of ${c.chunk_id} is zero or not finite`);
    }
  });
}

/** Key of an idempotent pipeline step (DESIGN §3). */
export interface StepKey {
  docId: string;
  step: string;
  inputSha256: string;
  codeVersion: string;
}

/** The recorded output of a finished step, or null when the step still has to run. */
export async function findStepRun(db: DbOrTx, tables: IndexTables, key: StepKey): Promise<{ outputSha256: string; completedAt: Date } | null> {
  const t = tables.stepRuns;
  const rows = await db
    .select({ outputSha256: t.outputSha256, completedAt: t.completedAt })
    .from(t)
    .where(and(eq(t.docId, key.docId), eq(t.step, key.step), eq(t.inputSha256, key.inputSha256), eq(t.codeVersion, key.codeVersion)))
    .limit(1);
  return rows[0] ?? null;
}

/** Records a finished step; recording it again (a redelivery that raced) keeps the first record. */
export async function recordStepRun(db: DbOrTx, tables: IndexTables, key: StepKey, outputSha256: string, now: Date): Promise<void> {
  await db
    .insert(tables.stepRuns)
    .values({ ...key, outputSha256, completedAt: now })
    .onConflictDoNothing();
}
