import * as v from 'valibot';
import type { BatchStatus, FileError, FileStatus, Stages, StageState } from '../db/schema/tenant';
import type { BatchReceipt } from '../intake/submit-batch';
import type { BatchReport } from '../pipeline/report';

/**
 * The vendor API's response bodies as valibot schemas (DESIGN §4). The CLI parses what the server
 * answers with them, and the OpenAPI document is generated from them; the type checks at the end
 * of this file keep them equal to what the routes actually return.
 */

const isoTimestamp = v.pipe(v.string(), v.isoTimestamp('must be an ISO-8601 UTC timestamp'));
const sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex characters'));

export const FILE_OUTCOMES = ['accepted', 'duplicate', 'rejected', 'quarantined'] as const;
export const REJECT_REASONS = ['UNSUPPORTED_FORMAT', 'SIZE_EXCEEDED', 'CHECKSUM_MISMATCH', 'MISSING_FILE'] as const;
export const QUARANTINE_REASONS = ['MALWARE_DETECTED', 'SCAN_FAILED'] as const;
export const FILE_STATUSES = ['received', 'parsing', 'parsed', 'indexing', 'indexed', 'rejected', 'quarantined', 'duplicate', 'parse_failed', 'index_failed'] as const satisfies readonly FileStatus[];
export const BATCH_STATUSES = ['processing', 'completed', 'completed_with_errors'] as const satisfies readonly BatchStatus[];
const STAGE_STATES = ['pending', 'running', 'done', 'failed', 'skipped'] as const satisfies readonly StageState[];

export const BatchReceiptSchema = v.pipe(
  v.object({
    batch_id: v.string(),
    tenant_id: v.string(),
    file_count: v.number(),
    accepted: v.number(),
    rejected: v.number(),
    quarantined: v.number(),
    duplicates: v.number(),
    received_at: isoTimestamp,
    scan_result: v.picklist(['scanned', 'not_scanned']),
    receipts: v.array(v.object({
      receipt_id: v.string(),
      file_id: v.string(),
      doc_id: v.string(),
      status: v.picklist(FILE_OUTCOMES),
      sha256: v.nullable(sha256),
      duplicate_of: v.optional(v.string()),
    })),
    rejected_files: v.array(v.object({ file_id: v.string(), reason: v.picklist(REJECT_REASONS), message: v.string() })),
    quarantined_files: v.array(v.object({ file_id: v.string(), reason: v.picklist(QUARANTINE_REASONS), message: v.string() })),
  }),
  v.description('The 202 receipt: one entry per manifest file, in manifest order. Immutable; resubmitting the same batch_id and manifest replays it.'),
);
export type BatchReceiptBody = v.InferOutput<typeof BatchReceiptSchema>;

const StageSchema = v.object({ state: v.picklist(STAGE_STATES), started_at: v.nullable(isoTimestamp), finished_at: v.nullable(isoTimestamp) });
const FileErrorSchema = v.object({ stage: v.picklist(['intake', 'parse', 'index']), code: v.string(), message: v.string(), attempts: v.number() });

export const BatchSummarySchema = v.object({
  total_files: v.number(),
  indexed: v.number(),
  processing: v.number(),
  failed: v.number(),
  rejected: v.number(),
  quarantined: v.number(),
  duplicate: v.number(),
});

export const BatchStatusSchema = v.pipe(
  v.object({
    batch_id: v.string(),
    tenant_id: v.string(),
    status: v.picklist(BATCH_STATUSES),
    submitted_at: isoTimestamp,
    updated_at: isoTimestamp,
    completed_at: v.nullable(isoTimestamp),
    summary: BatchSummarySchema,
    files: v.array(v.object({
      file_id: v.string(),
      doc_id: v.string(),
      original_filename: v.string(),
      status: v.picklist(FILE_STATUSES),
      sha256: v.nullable(sha256),
      size_bytes: v.nullable(v.number()),
      mime_type: v.string(),
      duplicate_of: v.nullable(v.string()),
      scan_result: v.string(),
      stages: v.object({ intake: StageSchema, parse: StageSchema, index: StageSchema }),
      error: v.nullable(FileErrorSchema),
    })),
  }),
  v.description('Where every file of a batch is: `received → parsing → parsed → indexing → indexed`, or a terminal failure with its reason code.'),
);
export type BatchStatusBody = v.InferOutput<typeof BatchStatusSchema>;

export const BatchReportSchema = v.pipe(
  v.object({
    batch_id: v.string(),
    tenant_id: v.string(),
    status: v.picklist(BATCH_STATUSES),
    submitted_at: isoTimestamp,
    completed_at: v.nullable(isoTimestamp),
    summary: BatchSummarySchema,
    files: v.array(v.object({
      file_id: v.string(),
      doc_id: v.string(),
      original_filename: v.string(),
      status: v.picklist(FILE_STATUSES),
      sha256: v.nullable(sha256),
      size_bytes: v.nullable(v.number()),
      mime_type: v.string(),
      pages: v.nullable(v.number()),
      chunks: v.nullable(v.number()),
      warnings: v.array(v.string()),
      duplicate_of: v.nullable(v.string()),
      error: v.nullable(FileErrorSchema),
      remediation: v.nullable(v.string()),
    })),
  }),
  v.description('The acceptance report: per-file outcome, pages, chunks, parser warnings and, for every failure, what to do.'),
);

export const FileReceiptSchema = v.object({
  receipt_id: v.string(),
  tenant_id: v.string(),
  batch_id: v.string(),
  file_id: v.string(),
  doc_id: v.string(),
  status: v.picklist(FILE_OUTCOMES),
  sha256: v.nullable(sha256),
  size_bytes: v.nullable(v.number()),
  duplicate_of: v.nullable(v.string()),
  reason: v.nullable(v.string()),
  message: v.nullable(v.string()),
  scan_result: v.string(),
  received_at: isoTimestamp,
});

export const ProblemSchema = v.pipe(
  v.object({
    type: v.string(),
    title: v.string(),
    status: v.number(),
    detail: v.string(),
    code: v.string(),
    request_id: v.string(),
    instance: v.optional(v.string()),
    errors: v.optional(v.array(v.object({ field: v.string(), message: v.string() }))),
  }),
  v.description('RFC 9457 problem details (`application/problem+json`). `code` is the stable, machine-readable part; `errors[]` lists field problems.'),
);
export type ProblemBody = v.InferOutput<typeof ProblemSchema>;

export const HealthSchema = v.object({ status: v.literal('healthy'), timestamp: isoTimestamp });

// Compile-time guards: a field added to or renamed in a route's result breaks the build here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type StatusFile = BatchStatusBody['files'][number];
export type _ReceiptMatches = Assert<Same<Omit<BatchReceiptBody, 'receipts'>, Omit<BatchReceipt, 'receipts'>>>;
export type _StagesMatch = Assert<Same<StatusFile['stages'], Stages>>;
export type _ErrorMatches = Assert<Same<NonNullable<StatusFile['error']>, FileError>>;
export type _ReportMatches = Assert<Same<keyof v.InferOutput<typeof BatchReportSchema>['files'][number], keyof BatchReport['files'][number]>>;
