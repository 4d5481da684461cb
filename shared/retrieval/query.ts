import { and, asc, eq } from 'drizzle-orm';
import * as v from 'valibot';
import { recordEvent } from '../audit/record';
import { AppError } from '../http/errors';
import { newId } from '../ids';
import type { Services } from '../services';
import { parsedKey } from '../storage/object-store';
import type { DataPlane } from '../tenants/data-plane';
import { DEFAULT_TOP_K, MAX_QUERY_CHARS, MAX_TOP_K, searchChunks, type SearchHit } from './search';

const isoDate = v.pipe(v.string(), v.check((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 timestamp'));

/** POST /query/{tenant}/search body. */
export const SearchRequestSchema = v.object({
  query_text: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(MAX_QUERY_CHARS, `must be at most ${MAX_QUERY_CHARS} characters`)),
  top_k: v.optional(v.pipe(v.number('must be a number'), v.integer('must be a whole number'), v.minValue(1, 'must be at least 1'), v.maxValue(MAX_TOP_K, `must be at most ${MAX_TOP_K}`)), DEFAULT_TOP_K),
  mode: v.optional(v.picklist(['hybrid', 'keyword', 'vector'], 'must be hybrid, keyword or vector'), 'hybrid'),
  filters: v.optional(
    v.strictObject({
      doc_ids: v.optional(v.array(v.string())),
      batch_ids: v.optional(v.array(v.string())),
      mime_types: v.optional(v.array(v.string())),
      date_range: v.optional(v.strictObject({ from: v.optional(isoDate), to: v.optional(isoDate) })),
    }),
    {},
  ),
});
export type SearchRequest = v.InferOutput<typeof SearchRequestSchema>;

export interface SearchResponse {
  query_id: string;
  mode: string;
  top_k: number;
  model_version_match: boolean;
  embed_model: string;
  embed_version: string;
  chunks: SearchHit[];
}

/**
 * Hybrid retrieval for one tenant, then RETRIEVAL_EXECUTED on its chain: ids, mode, counts and
 * latency — never the query text.
 */
export async function runSearch(services: Services, plane: DataPlane, actor: string, body: unknown): Promise<SearchResponse> {
  const parsed = v.safeParse(SearchRequestSchema, body);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', 'The search request is invalid; see `errors`.', {
      errors: parsed.issues.map((i) => ({ field: v.getDotPath(i) ?? '(body)', message: i.message })),
    });
  }
  const req = parsed.output;
  const embedder = services.embedder;
  if (!embedder) throw new AppError('SERVICE_UNAVAILABLE', 'Search is not configured in this runtime.');
  const started = Date.now();
  const result = await searchChunks(plane.db, plane.tables, plane.capabilities, {
    queryText: req.query_text, topK: req.top_k, mode: req.mode, filters: req.filters, embedder,
  });
  const latency = Date.now() - started;
  services.metrics?.observe('frostbyte_retrieval_latency_seconds', { tenant_id: plane.tenantId, mode: result.mode }, latency / 1000);
  const queryId = newId('qry');
  await plane.db.transaction(async (tx) => {
    await recordEvent(tx, plane.tables, {
      event_type: 'RETRIEVAL_EXECUTED', actor, resource_type: 'query', resource_id: queryId,
      details: {
        component: 'retrieval', query_id: queryId, mode: result.mode, top_k: req.top_k, result_count: result.chunks.length,
        chunk_ids: result.chunks.map((c) => c.chunk_id), doc_ids: [...new Set(result.chunks.map((c) => c.doc_id))],
        filters: Object.keys(req.filters ?? {}), vector_path: result.vector_path, model_version_match: result.model_version_match,
        duration_ms: latency, status: 'ok',
      },
    }, services.clock);
  });
  services.onAuditRecorded?.(plane.tenantId);
  return {
    query_id: queryId, mode: result.mode, top_k: req.top_k, model_version_match: result.model_version_match,
    embed_model: embedder.model, embed_version: embedder.version, chunks: result.chunks,
  };
}

async function lineageOf(plane: DataPlane, docId: string) {
  const { files, stepRuns } = plane.tables;
  const [file] = await plane.db.select().from(files).where(eq(files.docId, docId)).limit(1);
  if (!file || ['rejected', 'quarantined', 'duplicate'].includes(file.status)) return null;
  const [parse] = await plane.db.select().from(stepRuns).where(and(eq(stepRuns.docId, docId), eq(stepRuns.step, 'parse'))).orderBy(asc(stepRuns.completedAt)).limit(1);
  const parserVersion = parse?.codeVersion ?? file.metrics?.parser_version ?? null;
  return {
    file,
    lineage: {
      batch_id: file.batchId,
      file_id: file.fileId,
      original_filename: file.originalFilename,
      raw_sha256: file.sha256,
      raw_storage_key: file.storageKey,
      received_at: file.createdAt.toISOString(),
      parser_version: parserVersion,
      parsed_key: parserVersion ? parsedKey(plane.tenantId, docId, parserVersion) : null,
      parsed_sha256: parse?.outputSha256 ?? null,
    },
  };
}

/** GET /query/{tenant}/document/{doc_id}: metadata, chunk list, lineage. */
export async function getDocument(plane: DataPlane, docId: string) {
  const found = await lineageOf(plane, docId);
  if (!found) throw new AppError('NOT_FOUND', `Document ${docId} was not found.`);
  const { chunks } = plane.tables;
  const rows = await plane.db
    .select({ chunkId: chunks.chunkId, page: chunks.page, startChar: chunks.startChar, endChar: chunks.endChar, elementTypes: chunks.elementTypes, sectionTitle: chunks.sectionTitle, embedModel: chunks.embedModel, embedVersion: chunks.embedVersion, embedDimensions: chunks.embedDimensions })
    .from(chunks)
    .where(eq(chunks.docId, docId))
    .orderBy(asc(chunks.startChar));
  const f = found.file;
  return {
    doc_id: docId,
    tenant_id: plane.tenantId,
    status: f.status,
    mime_type: f.detectedMime ?? f.declaredMime,
    size_bytes: f.sizeBytes,
    pages: f.metrics?.pages ?? null,
    lineage: { ...found.lineage, embedder: rows[0] ? { model: rows[0].embedModel, version: rows[0].embedVersion, dimensions: rows[0].embedDimensions } : null },
    chunks: rows.map((r) => ({ chunk_id: r.chunkId, page: r.page, start_char: r.startChar, end_char: r.endChar, element_types: r.elementTypes, section_title: r.sectionTitle })),
  };
}

/** GET /query/{tenant}/chunk/{chunk_id}: text, offsets, element type, section title, lineage. */
export async function getChunk(plane: DataPlane, chunkId: string) {
  const { chunks } = plane.tables;
  const [c] = await plane.db.select().from(chunks).where(eq(chunks.chunkId, chunkId)).limit(1);
  if (!c) throw new AppError('NOT_FOUND', `Chunk ${chunkId} was not found.`);
  const found = await lineageOf(plane, c.docId);
  return {
    chunk_id: c.chunkId,
    doc_id: c.docId,
    tenant_id: plane.tenantId,
    text: c.text,
    page: c.page,
    start_char: c.startChar,
    end_char: c.endChar,
    element_types: c.elementTypes,
    section_title: c.sectionTitle,
    source_sha256: c.sourceSha256,
    embed_model: c.embedModel,
    embed_version: c.embedVersion,
    lineage: found?.lineage ?? null,
  };
}
