import { and, asc, eq } from 'drizzle-orm';
import { recordEvent } from '../audit/record';
import type { BatchStatus, FileStatus, TenantTables } from '../db/schema/tenant';
import type { DbOrTx } from '../db/types';
import { AppError } from '../http/errors';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';

export const TERMINAL: readonly FileStatus[] = ['indexed', 'rejected', 'quarantined', 'duplicate', 'parse_failed', 'index_failed'];
const SUCCESS: readonly FileStatus[] = ['indexed', 'duplicate'];

export function isTerminal(status: FileStatus) {
  return TERMINAL.includes(status);
}

/** `completed` when every file is indexed (or a duplicate of an indexed one), else `completed_with_errors`. */
export function batchStatusOf(statuses: FileStatus[]): BatchStatus {
  if (!statuses.every(isTerminal)) return 'processing';
  return statuses.every((s) => SUCCESS.includes(s)) ? 'completed' : 'completed_with_errors';
}

/**
 * Marks the batch finished once every file is terminal and records BATCH_COMPLETED, exactly once:
 * the status flip is guarded, so a redelivered step that calls this again does nothing.
 */
export async function completeBatchIfDone(services: Services, tx: DbOrTx, tables: TenantTables, batchId: string): Promise<BatchStatus> {
  const { batches, files } = tables;
  // Two steps finishing a batch's last files at once would each see the other's file still
  // running (write skew) and neither would complete it. Locking the batch row first makes them
  // take turns; the second then reads the first one's committed status.
  await tx.select({ batchId: batches.batchId }).from(batches).where(eq(batches.batchId, batchId)).for('update');
  const rows = await tx.select({ status: files.status }).from(files).where(eq(files.batchId, batchId));
  const status = batchStatusOf(rows.map((r) => r.status));
  if (status === 'processing') return status;
  const now = services.clock.now();
  const flipped = await tx
    .update(batches)
    .set({ status, updatedAt: now, completedAt: now })
    .where(and(eq(batches.batchId, batchId), eq(batches.status, 'processing')))
    .returning({ batchId: batches.batchId });
  if (flipped.length) {
    const summary = summaryOf(rows.map((r) => r.status));
    await recordEvent(tx, tables, {
      event_type: 'BATCH_COMPLETED', actor: 'system', resource_type: 'batch', resource_id: batchId,
      details: { component: 'pipeline', status, ...summary },
    }, services.clock);
    await services.hooks?.batchCompleted?.(tx, tables, { batchId, status, summary });
  }
  return status;
}

export function summaryOf(statuses: FileStatus[]) {
  const count = (...s: FileStatus[]) => statuses.filter((x) => s.includes(x)).length;
  return {
    total_files: statuses.length,
    indexed: count('indexed'),
    processing: count('received', 'parsing', 'parsed', 'indexing'),
    failed: count('parse_failed', 'index_failed'),
    rejected: count('rejected'),
    quarantined: count('quarantined'),
    duplicate: count('duplicate'),
  };
}

/** A batch and its files in manifest order, or NOT_FOUND (for this tenant's data plane only). */
export async function loadBatch(plane: DataPlane, batchId: string) {
  const { batches, files } = plane.tables;
  const [batch] = await plane.db.select().from(batches).where(eq(batches.batchId, batchId)).limit(1);
  if (!batch) throw new AppError('NOT_FOUND', `Batch ${batchId} was not found.`);
  const rows = await plane.db.select().from(files).where(eq(files.batchId, batchId)).orderBy(asc(files.position));
  return { batch, rows };
}

export async function getBatchStatus(plane: DataPlane, batchId: string) {
  const { batch, rows } = await loadBatch(plane, batchId);
  return {
    batch_id: batch.batchId,
    tenant_id: plane.tenantId,
    status: batch.status,
    submitted_at: batch.submittedAt.toISOString(),
    updated_at: batch.updatedAt.toISOString(),
    completed_at: batch.completedAt?.toISOString() ?? null,
    summary: summaryOf(rows.map((r) => r.status)),
    files: rows.map((f) => ({
      file_id: f.fileId,
      doc_id: f.docId,
      original_filename: f.originalFilename,
      status: f.status,
      sha256: f.sha256,
      size_bytes: f.sizeBytes,
      mime_type: f.detectedMime ?? f.declaredMime,
      duplicate_of: f.duplicateOf,
      scan_result: f.scanResult,
      stages: f.stages,
      error: f.error ?? null,
    })),
  };
}

export async function getReceipt(plane: DataPlane, receiptId: string) {
  const { receipts } = plane.tables;
  const [r] = await plane.db.select().from(receipts).where(eq(receipts.receiptId, receiptId)).limit(1);
  if (!r) throw new AppError('NOT_FOUND', `Receipt ${receiptId} was not found.`);
  return {
    receipt_id: r.receiptId,
    tenant_id: plane.tenantId,
    batch_id: r.batchId,
    file_id: r.fileId,
    doc_id: r.docId,
    status: r.status,
    sha256: r.sha256,
    size_bytes: r.sizeBytes,
    duplicate_of: r.duplicateOf,
    reason: r.reason,
    message: r.message,
    scan_result: r.scanResult,
    received_at: r.receivedAt.toISOString(),
  };
}
