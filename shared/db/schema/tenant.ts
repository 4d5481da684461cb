import { bigint, index, integer, jsonb, pgSchema, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { buildIndexTables } from '../../index/schema';
import { buildWebhookTables } from '../../webhooks/schema';
import { TEMPLATE_SCHEMA } from './template';

/**
 * The data plane of one tenant (DESIGN §2), in schema `tenant_<id>`. The same layout serves a
 * tenant's own database on a server and the embedded default where every tenant's schema sits
 * in one PGlite database. Tables are built per schema name, so a data-plane handle can only
 * ever name its own tenant's tables.
 */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export type FileStatus =
  | 'received' | 'parsing' | 'parsed' | 'indexing' | 'indexed'
  | 'rejected' | 'quarantined' | 'duplicate' | 'parse_failed' | 'index_failed';
export type BatchStatus = 'processing' | 'completed' | 'completed_with_errors';
export type StageState = 'pending' | 'running' | 'done' | 'failed' | 'skipped';
export interface Stage { state: StageState; started_at: string | null; finished_at: string | null }
export interface Stages { intake: Stage; parse: Stage; index: Stage }
export interface FileMetrics { pages?: number; elements?: number; chars?: number; warnings?: string[]; chunks?: number; parser_version?: string; embed_model?: string }
export interface FileError { stage: 'intake' | 'parse' | 'index'; code: string; message: string; attempts: number }

export function buildTenantTables(schemaName: string) {
  const s = pgSchema(schemaName);

  const batches = s.table('batches', {
    batchId: text('batch_id').primaryKey(),
    /** sha256 of the canonical manifest: a resubmission with the same value replays the receipt. */
    manifestSha256: text('manifest_sha256').notNull(),
    manifest: jsonb('manifest').$type<Record<string, unknown>>().notNull(),
    receipt: jsonb('receipt').$type<Record<string, unknown>>().notNull(),
    status: text('status').$type<BatchStatus>().notNull(),
    submitter: text('submitter'),
    submittedAt: ts('submitted_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
    completedAt: ts('completed_at'),
  });

  /** One row per manifest entry; accepted rows are the tenant's documents (`doc_…`). */
  const files = s.table(
    'files',
    {
      docId: text('doc_id').primaryKey(),
      batchId: text('batch_id').notNull(),
      fileId: text('file_id').notNull(),
      position: integer('position').notNull(),
      originalFilename: text('original_filename').notNull(),
      declaredMime: text('declared_mime').notNull(),
      detectedMime: text('detected_mime'),
      sizeBytes: bigint('size_bytes', { mode: 'number' }),
      sha256: text('sha256'),
      status: text('status').$type<FileStatus>().notNull(),
      storageKey: text('storage_key'),
      duplicateOf: text('duplicate_of'),
      scanResult: text('scan_result'),
      stages: jsonb('stages').$type<Stages>().notNull(),
      error: jsonb('error').$type<FileError | null>(),
      /** What parsing and indexing found: pages, elements, warnings, chunks (for the acceptance report). */
      metrics: jsonb('metrics').$type<FileMetrics>(),
      createdAt: ts('created_at').notNull(),
      updatedAt: ts('updated_at').notNull(),
    },
    (t) => [
      uniqueIndex('files_batch_file').on(t.batchId, t.fileId),
      index('files_sha256').on(t.sha256),
      index('files_status').on(t.status),
    ],
  );

  /** Immutable per-file receipts, one per manifest entry. */
  const receipts = s.table(
    'receipts',
    {
      receiptId: text('receipt_id').primaryKey(),
      batchId: text('batch_id').notNull(),
      fileId: text('file_id').notNull(),
      docId: text('doc_id').notNull(),
      status: text('status').notNull(),
      sha256: text('sha256'),
      sizeBytes: bigint('size_bytes', { mode: 'number' }),
      duplicateOf: text('duplicate_of'),
      reason: text('reason'),
      message: text('message'),
      scanResult: text('scan_result'),
      receivedAt: ts('received_at').notNull(),
    },
    (t) => [index('receipts_batch').on(t.batchId)],
  );

  /** Transactional outbox: step messages written with the state change that calls for them. */
  const outbox = s.table(
    'outbox',
    {
      id: text('id').primaryKey(),
      topic: text('topic').notNull(),
      dedupId: text('dedup_id').notNull(),
      payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
      createdAt: ts('created_at').notNull(),
      availableAt: ts('available_at').notNull(),
      attempts: integer('attempts').notNull().default(0),
      sentAt: ts('sent_at'),
      lastError: text('last_error'),
    },
    (t) => [uniqueIndex('outbox_dedup').on(t.dedupId), index('outbox_unsent').on(t.sentAt, t.availableAt)],
  );

  /**
   * Audit events recorded in the same transaction as the state they describe, then appended to
   * the tenant's chain in the control plane (which lives in another database on a server).
   */
  const auditOutbox = s.table(
    'audit_outbox',
    {
      eventId: text('event_id').primaryKey(),
      ordinal: bigint('ordinal', { mode: 'number' }).generatedAlwaysAsIdentity(),
      eventType: text('event_type').notNull(),
      timestamp: text('timestamp').notNull(),
      actor: text('actor').notNull(),
      resourceType: text('resource_type').notNull(),
      resourceId: text('resource_id').notNull(),
      details: jsonb('details').$type<Record<string, unknown>>().notNull(),
      appendedAt: ts('appended_at'),
    },
    (t) => [index('audit_outbox_pending').on(t.appendedAt, t.ordinal)],
  );

  return { batches, files, receipts, outbox, auditOutbox, ...buildIndexTables(schemaName), ...buildWebhookTables(schemaName) };
}

export type TenantTables = ReturnType<typeof buildTenantTables>;

export { TEMPLATE_SCHEMA };
const template = buildTenantTables(TEMPLATE_SCHEMA);
export const { batches, files, receipts, outbox, auditOutbox } = template;
