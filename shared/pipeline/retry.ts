import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { deadLetters } from '../db/schema/control';
import { AppError } from '../http/errors';
import { enqueueStep } from '../queue/outbox';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';
import { setFileStage } from './file-state';

const RETRYABLE = ['parse_failed', 'index_failed', 'received', 'parsing', 'parsed', 'indexing'];

/**
 * Operator retry of one file (after a fix, or a dead-lettered message): failed or stuck files go
 * back to the stage they failed in. A new generation number keeps the new messages from being
 * deduplicated against the first run; finished steps are still skipped by their idempotency key.
 */
export async function retryFile(services: Services, plane: DataPlane, input: { fileId: string; batchId?: string }) {
  const { files } = plane.tables;
  const rows = await plane.db
    .select()
    .from(files)
    .where(input.batchId ? and(eq(files.fileId, input.fileId), eq(files.batchId, input.batchId)) : eq(files.fileId, input.fileId))
    .orderBy(desc(files.createdAt));
  if (!rows.length) throw new AppError('NOT_FOUND', `File ${input.fileId} was not found.`);
  if (rows.length > 1 && !input.batchId) {
    throw new AppError('CONFLICT', `File ${input.fileId} appears in ${rows.length} batches (${rows.map((r) => r.batchId).join(', ')}); name the batch.`);
  }
  const file = rows[0];
  if (!RETRYABLE.includes(file.status)) {
    throw new AppError('CONFLICT', `File ${input.fileId} is ${file.status}; only failed or unfinished files can be retried${['rejected', 'quarantined', 'duplicate'].includes(file.status) ? ' (intake outcomes are fixed: resubmit the file in a new batch)' : ''}.`);
  }
  if (!file.sha256 || !file.storageKey) throw new AppError('CONFLICT', `File ${input.fileId} has no stored original.`);
  const generation = services.clock.now().getTime();
  const fromIndex = ['index_failed', 'parsed', 'indexing'].includes(file.status);
  await plane.db.transaction(async (tx) => {
    await setFileStage(tx, plane.tables, file.docId, fromIndex
      ? { status: 'parsed', stage: 'index', state: 'pending', at: services.clock.now(), error: null }
      : { status: 'received', stage: 'parse', state: 'pending', at: services.clock.now(), error: null });
    await tx.update(plane.tables.batches).set({ status: 'processing', completedAt: null, updatedAt: services.clock.now() }).where(eq(plane.tables.batches.batchId, file.batchId));
    await enqueueStep(tx, plane.tables, services.clock, {
      topic: 'parse', dedupId: `${file.docId}:parse:${file.sha256}:g${generation}`, tenantId: plane.tenantId,
      payload: { tenant_id: plane.tenantId, doc_id: file.docId, batch_id: file.batchId, file_id: file.fileId, sha256: file.sha256, storage_key: file.storageKey, mime_type: file.detectedMime ?? file.declaredMime, generation },
    });
  });
  await services.control
    .update(deadLetters)
    .set({ retriedAt: services.clock.now() })
    .where(and(eq(deadLetters.tenantId, plane.tenantId), isNull(deadLetters.retriedAt), sql`${deadLetters.payload}->>'doc_id' = ${file.docId}`));
  services.onOutboxWritten?.(plane.tenantId);
  return { tenant_id: plane.tenantId, batch_id: file.batchId, file_id: file.fileId, doc_id: file.docId, resumed_from: fromIndex ? 'index' : 'parse', generation };
}

export async function listDeadLetters(services: Services, input: { tenantId?: string; limit?: number; includeRetried?: boolean }) {
  const conditions = [
    ...(input.tenantId ? [eq(deadLetters.tenantId, input.tenantId)] : []),
    ...(input.includeRetried ? [] : [isNull(deadLetters.retriedAt)]),
  ];
  const rows = await services.control
    .select()
    .from(deadLetters)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(deadLetters.createdAt))
    .limit(Math.min(input.limit ?? 100, 1000));
  return rows.map((r) => ({
    id: r.id, tenant_id: r.tenantId, topic: r.topic, dedup_id: r.dedupId, error: r.error, attempts: r.attempts,
    created_at: r.createdAt.toISOString(), retried_at: r.retriedAt?.toISOString() ?? null,
    doc_id: typeof r.payload.doc_id === 'string' ? r.payload.doc_id : null,
    file_id: typeof r.payload.file_id === 'string' ? r.payload.file_id : null,
  }));
}
