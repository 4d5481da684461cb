import * as v from 'valibot';
import type { FileStatus } from '../db/schema/tenant';
import { recordEvent } from '../audit/record';
import { indexParsedDocument } from '../index/store';
import { completeBatchIfDone } from '../intake/batch-status';
import type { ParsedDocument } from '../parse/types';
import { RetryableStepError, type StepContext, type StepDefinition, type StepResult } from '../queue/step';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';
import { claimStepRun, loadStepInput, StepAlreadyDone } from './claim';
import { setFileStage, startFileStage } from './file-state';

/** Bump when chunking or index layout changes: part of the index step's idempotency key. */
export const INDEX_CODE_VERSION = 'index-1';

export const IndexPayload = v.object({
  tenant_id: v.string(),
  doc_id: v.pipe(v.string(), v.startsWith('doc_')),
  batch_id: v.string(),
  file_id: v.string(),
  source_sha256: v.string(),
  mime_type: v.string(),
  parsed_key: v.string(),
  parsed_sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  parser_version: v.string(),
  generation: v.optional(v.number(), 0),
});
export type IndexPayload = v.InferOutput<typeof IndexPayload>;

const decoder = new TextDecoder();

/** Where indexing may start: parsed, indexing (a retry) or index_failed (an operator retry). */
const INDEX_FROM: FileStatus[] = ['parsed', 'indexing', 'index_failed'];

/**
 * Index step: canonical JSON → chunks + embeddings + full-text, replacing the document's previous
 * chunks. Keyed by (doc, index, parsed sha256, index version + embedder): redelivery does nothing.
 */
export async function runIndexStep(services: Services, plane: DataPlane, p: IndexPayload, ctx: StepContext): Promise<StepResult> {
  const embedder = services.embedder;
  if (!embedder) throw new RetryableStepError('no embedder is configured in this runtime');
  const key = { docId: p.doc_id, step: 'index', inputSha256: p.parsed_sha256, codeVersion: `${INDEX_CODE_VERSION}:${embedder.model}@${embedder.version}` };
  const file = await startFileStage(plane.db, plane.tables, key, { status: 'indexing', stage: 'index', at: services.clock.now(), from: INDEX_FROM });
  if (!file) {
    // Not started: say why (gone, done before, or in another state).
    const input = await loadStepInput(plane.db, plane.tables, key);
    if (!input) return { status: 'skipped', detail: 'document not found' };
    if (input.done) return { status: 'already_done' };
    if (!INDEX_FROM.includes(input.file.status)) return { status: 'skipped', detail: `file is ${input.file.status}` };
    throw new RetryableStepError('the file changed while the index step started', 1);
  }
  const raw = await plane.store.getBytes(p.parsed_key);
  if (!raw) throw new RetryableStepError(`parsed object ${p.parsed_key} is missing`);
  const doc = JSON.parse(decoder.decode(raw)) as ParsedDocument;

  const started = Date.now();
  let result: { chunkSetHash: string; chunkCount: number };
  try {
    result = await indexParsedDocument(
      { db: plane.db, tables: plane.tables, embedder, clock: services.clock, sha256: services.sha256 },
      { doc, lineage: { batchId: p.batch_id, fileId: p.file_id, originalFilename: file.originalFilename, mimeType: p.mime_type, sourceSha256: p.source_sha256, ingestedAt: file.createdAt } },
    );
  } catch (e) {
    if (ctx.attempt >= services.env.STEP_MAX_ATTEMPTS) {
      await failIndex(services, plane, p, ctx, 'RETRIES_EXHAUSTED', `Indexing kept failing: ${e instanceof Error ? e.message.slice(0, 200) : 'error'}. An operator can retry it.`);
    }
    throw e;
  }

  try {
    await plane.db.transaction(async (tx) => {
      await claimStepRun(tx, plane.tables, key, result.chunkSetHash, services.clock.now());
      await setFileStage(tx, plane.tables, p.doc_id, {
        status: 'indexed', stage: 'index', state: 'done', at: services.clock.now(), error: null,
        addMetrics: { chunks: result.chunkCount, embed_model: `${embedder.model}@${embedder.version}` },
      });
      await recordEvent(tx, plane.tables, {
        event_type: 'DOCUMENT_INDEXED', actor: 'system', resource_type: 'document', resource_id: p.doc_id,
        details: {
          component: 'indexer', input_hash: p.parsed_sha256, output_hash: result.chunkSetHash, chunks: result.chunkCount,
          embed_model: embedder.model, embed_version: embedder.version, embed_dimensions: embedder.dimensions,
          pipeline_version: INDEX_CODE_VERSION, duration_ms: Date.now() - started, attempt: ctx.attempt, status: 'indexed',
        },
      }, services.clock);
      await completeBatchIfDone(services, tx, plane.tables, p.batch_id);
    });
  } catch (e) {
    if (e instanceof StepAlreadyDone) return { status: 'already_done' };
    throw e;
  }
  services.onAuditRecorded?.(p.tenant_id);
  return { status: 'done' };
}

async function failIndex(services: Services, plane: DataPlane, p: IndexPayload, ctx: StepContext, code: string, message: string) {
  services.log.log('warn', 'index failed', { tenant_id: p.tenant_id, component: 'indexer', doc_id: p.doc_id, file_id: p.file_id, batch_id: p.batch_id, code, attempt: ctx.attempt });
  await plane.db.transaction(async (tx) => {
    await setFileStage(tx, plane.tables, p.doc_id, {
      status: 'index_failed', stage: 'index', state: 'failed', at: services.clock.now(),
      error: { stage: 'index', code, message, attempts: ctx.attempt },
    });
    await recordEvent(tx, plane.tables, {
      event_type: 'DOCUMENT_INDEX_FAILED', actor: 'system', resource_type: 'document', resource_id: p.doc_id,
      details: { component: 'indexer', reason_code: code, stage: 'index', attempt: ctx.attempt, message, input_hash: p.parsed_sha256, status: 'index_failed' },
    }, services.clock);
    await completeBatchIfDone(services, tx, plane.tables, p.batch_id);
  });
  services.onAuditRecorded?.(p.tenant_id);
}

export const indexStep: StepDefinition<IndexPayload> = { topic: 'index', schema: IndexPayload, run: runIndexStep };
