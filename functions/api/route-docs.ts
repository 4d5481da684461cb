import * as v from 'valibot';
import { SCOPES } from '../../shared/auth/tokens';
import type { NamedSchema, OpenApiInfo, RouteDoc } from '../../shared/http/openapi';
import { ManifestSchema } from '../../shared/intake/manifest';
import { SearchRequestSchema } from '../../shared/retrieval/query';
import { TenantConfigPatchSchema } from '../../shared/tenants/config';
import { TenantHealthSchema } from '../../shared/tenants/health-check';
import {
  BatchReceiptSchema,
  BatchReportSchema,
  BatchStatusSchema,
  FileReceiptSchema,
  HealthSchema,
  ProblemSchema,
} from '../../shared/vendor/api-schemas';
import { ListDeliveriesQuery } from '../../shared/webhooks/deliveries';
import { CreateEndpointInput, DisableEndpointInput, RotateSecretInput, UpdateEndpointInput } from '../../shared/webhooks/endpoints';
import { controlSteps, pipelineSteps } from '../steps';
import { IssueTokenSchema, RevokeTokenSchema } from './admin/tokens';
import { EventsQuery } from './audit/events';
import { ExportBody } from './audit/exports';

/**
 * The route registry behind /openapi.json: one entry per mounted route. tests/openapi.test.ts
 * walks the app's routes and fails when one is missing here, and checks every request example
 * against the schema the route validates with. Examples are real answers of a local run.
 */

export const Manifest: NamedSchema = { name: 'Manifest', schema: v.pipe(ManifestSchema, v.description('The batch manifest: what the vendor says each file is. Intake checks every byte against it.')) };
export const BatchReceipt: NamedSchema = { name: 'BatchReceipt', schema: BatchReceiptSchema };
export const BatchStatus: NamedSchema = { name: 'BatchStatus', schema: BatchStatusSchema };
export const BatchReport: NamedSchema = { name: 'BatchReport', schema: BatchReportSchema };
export const FileReceipt: NamedSchema = { name: 'FileReceipt', schema: FileReceiptSchema };
export const Problem: NamedSchema = { name: 'Problem', schema: ProblemSchema };
export const SearchRequest: NamedSchema = { name: 'SearchRequest', schema: SearchRequestSchema };

export const API_INFO: Omit<OpenApiInfo, 'servers'> = {
  title: 'Frostbyte API',
  version: '1.0.0',
  description: [
    'Multi-tenant document ETL. Vendors push batches of documents with a manifest of SHA-256 checksums; Frostbyte verifies every byte, parses, indexes and serves retrieval with citations, and keeps a tamper-evident audit log.',
    '',
    'Times are UTC ISO-8601. Errors are `application/problem+json` (RFC 9457) with a stable `code` and the `request_id` to quote to support.',
    'Guides: docs/vendor-guide.md (first batch in minutes), docs/webhooks.md, docs/audit.md.',
  ].join('\n'),
  tags: [
    { name: 'Ingest', description: 'Submit batches, follow them, read receipts and acceptance reports.' },
    { name: 'Query', description: 'Hybrid retrieval with citations to page and character offsets.' },
    { name: 'Webhooks', description: 'Endpoints notified when a batch finishes (docs/webhooks.md).' },
    { name: 'Audit', description: 'The tenant\'s hash-chained audit log: events, chain checks, signed exports (docs/audit.md).' },
    { name: 'Admin: tenants', description: 'Platform operators: tenant lifecycle and provisioning.' },
    { name: 'Admin: pipeline', description: 'Platform operators: dead letters and per-file retries.' },
    { name: 'Admin: tokens', description: 'Platform operators: mint and revoke API tokens.' },
    { name: 'Health', description: 'Liveness, readiness and public keys.' },
    { name: 'Reference', description: 'This document and its interactive page.' },
    { name: 'Internal', description: 'Queue step endpoints called by QStash or the local relay; not for API clients.' },
  ],
};

// ── examples (answers of a local run, ids shortened only where noted) ─────────────────────────

const SHA_PDF = '814e189c4005c5d12e34f47b2a2c00b5d48fb7bf94455e0384c48e016b7569f8';
const SHA_PDF2 = 'b5a35a1aad62c58119d6aaf3e26daf4a6c2d8a4ab7b2897f2b8125c351598605';
const SHA_TXT = 'da8c99300ed07771ff9a98ef2fc22bfe59fe6967ad5c2e042ae90adefd6e2ddd';
const SHA_TXT_SENT = '843052df62ac18570a33bdb8872cc39271d7602358c87f89ff015ff97b77b6a9';
const DOC = 'doc_01a21c65056276d98419edf1e7776e25';
const CHUNK = 'chk_544a993ea2ab1f3755103a41e9beebaa';
const AT = '2026-11-27T09:45:12.323Z';

export const manifestExample = {
  batch_id: 'acme-test-001',
  tenant_id: 'acme-corp',
  file_count: 3,
  files: [
    { file_id: 'contract_001', filename: 'contract_001.pdf', mime_type: 'application/pdf', size_bytes: 657, sha256: SHA_PDF },
    { file_id: 'contract_002', filename: 'contract_002.pdf', mime_type: 'application/pdf', size_bytes: 653, sha256: SHA_PDF2 },
    { file_id: 'notes', filename: 'notes.txt', mime_type: 'text/plain', size_bytes: 65, sha256: SHA_TXT },
  ],
  submitted_at: '2026-11-27T09:45:00Z',
  submitter: 'dana@acme.example',
};

const receiptExample = {
  batch_id: 'acme-test-001',
  tenant_id: 'acme-corp',
  file_count: 3,
  accepted: 2,
  rejected: 1,
  quarantined: 0,
  duplicates: 0,
  received_at: AT,
  scan_result: 'not_scanned',
  receipts: [
    { receipt_id: 'rcp_01a21c6505837d1a9ad1ee0f6a713e57', file_id: 'contract_001', doc_id: 'doc_01a21c6505447a7fa2c19b11a77baf30', status: 'accepted', sha256: SHA_PDF },
    { receipt_id: 'rcp_01a21c6505837d1a9ad1ee1036455378', file_id: 'contract_002', doc_id: DOC, status: 'accepted', sha256: SHA_PDF2 },
    { receipt_id: 'rcp_01a21c6505837d1a9ad1ee12f8ed7c43', file_id: 'notes', doc_id: 'doc_01a21c65057078d7b006c975365b3c22', status: 'rejected', sha256: SHA_TXT_SENT },
  ],
  rejected_files: [
    { file_id: 'notes', reason: 'CHECKSUM_MISMATCH', message: `SHA-256 mismatch: expected ${SHA_TXT}, computed ${SHA_TXT_SENT}. Received 107 bytes; the manifest says 65.` },
  ],
  quarantined_files: [],
};

const stage = (state: string, started: string | null = null, finished: string | null = null) => ({ state, started_at: started, finished_at: finished });
const statusExample = {
  batch_id: 'acme-test-001',
  tenant_id: 'acme-corp',
  status: 'completed_with_errors',
  submitted_at: AT,
  updated_at: '2026-11-27T09:45:14.885Z',
  completed_at: '2026-11-27T09:45:14.885Z',
  summary: { total_files: 3, indexed: 2, processing: 0, failed: 0, rejected: 1, quarantined: 0, duplicate: 0 },
  files: [
    {
      file_id: 'contract_001', doc_id: 'doc_01a21c6505447a7fa2c19b11a77baf30', original_filename: 'contract_001.pdf', status: 'indexed', sha256: SHA_PDF, size_bytes: 657,
      mime_type: 'application/pdf', duplicate_of: null, scan_result: 'not_scanned',
      stages: { intake: stage('done', AT, AT), parse: stage('done', '2026-11-27T09:45:13.950Z', '2026-11-27T09:45:14.402Z'), index: stage('done', '2026-11-27T09:45:14.460Z', '2026-11-27T09:45:14.720Z') },
      error: null,
    },
    {
      file_id: 'contract_002', doc_id: DOC, original_filename: 'contract_002.pdf', status: 'indexed', sha256: SHA_PDF2, size_bytes: 653,
      mime_type: 'application/pdf', duplicate_of: null, scan_result: 'not_scanned',
      stages: { intake: stage('done', AT, AT), parse: stage('done', '2026-11-27T09:45:13.951Z', '2026-11-27T09:45:14.454Z'), index: stage('done', '2026-11-27T09:45:14.470Z', '2026-11-27T09:45:14.885Z') },
      error: null,
    },
    {
      file_id: 'notes', doc_id: 'doc_01a21c65057078d7b006c975365b3c22', original_filename: 'notes.txt', status: 'rejected', sha256: SHA_TXT_SENT, size_bytes: 107,
      mime_type: 'text/plain', duplicate_of: null, scan_result: 'not_scanned',
      stages: { intake: stage('failed', AT, AT), parse: stage('skipped'), index: stage('skipped') },
      error: { stage: 'intake', code: 'CHECKSUM_MISMATCH', message: `SHA-256 mismatch: expected ${SHA_TXT}, computed ${SHA_TXT_SENT}. Received 107 bytes; the manifest says 65.`, attempts: 1 },
    },
  ],
};

const reportExample = {
  batch_id: statusExample.batch_id,
  tenant_id: statusExample.tenant_id,
  status: statusExample.status,
  submitted_at: statusExample.submitted_at,
  completed_at: statusExample.completed_at,
  summary: statusExample.summary,
  files: statusExample.files.map((f) => ({
    file_id: f.file_id, doc_id: f.doc_id, original_filename: f.original_filename, status: f.status, sha256: f.sha256, size_bytes: f.size_bytes, mime_type: f.mime_type,
    pages: f.status === 'indexed' ? 1 : null, chunks: f.status === 'indexed' ? 1 : null, warnings: [], duplicate_of: null, error: f.error,
    remediation: f.error ? 'Recompute the hash (`sha256sum <file>` or PowerShell `Get-FileHash -Algorithm SHA256`); if the file changed after hashing, fix the manifest and resubmit only this file.' : null,
  })),
};

const lineage = {
  batch_id: 'acme-test-001', file_id: 'contract_002', original_filename: 'contract_002.pdf', raw_sha256: SHA_PDF2,
  raw_storage_key: `raw/acme-corp/contract_002/${SHA_PDF2}`, received_at: AT, parser_version: '1.0.0',
  parsed_key: `parsed/acme-corp/${DOC}/1.0.0.json`, parsed_sha256: 'fad7ff889963a69af0cee3e7f1a77ba615f92269751ca0585eb2e70562725eb3',
};

const endpointExample = {
  id: 'whk_01a21c6a1c2b7d0e8f3a4b5c6d7e8f90', tenant_id: 'acme-corp', url: 'https://erp.acme.example/hooks/frostbyte', description: 'ERP intake',
  events: ['batch.completed', 'batch.completed_with_errors'], status: 'active', disabled_reason: null, failing_since: null, previous_secret_expires_at: null,
  created_at: '2026-11-27T10:02:11.402Z', updated_at: '2026-11-27T10:02:11.402Z',
};
const deliveryExample = {
  id: 'dlv_01a21c6b2d3e7f00a1b2c3d4e5f60718', endpoint_id: endpointExample.id, message_id: 'msg_01a21c6b2d3e7f00a1b2c3d4e5f60719', event_type: 'batch.completed_with_errors',
  status: 'delivered', attempts: 1, next_attempt_at: null, last_status_code: 200, last_error: null, last_latency_ms: 84, created_at: '2026-11-27T09:45:14.885Z', finished_at: '2026-11-27T09:45:15.012Z',
  payload: { type: 'batch.completed_with_errors', timestamp: '2026-11-27T09:45:14.885Z', data: { tenant_id: 'acme-corp', batch_id: 'acme-test-001', status: 'completed_with_errors' } },
  attempt_log: [{ attempt: 1, trigger: 'scheduled', at: '2026-11-27T09:45:14.930Z', status_code: 200, latency_ms: 84, error: null, response_body: 'ok' }],
};

const auditEvent = {
  event_id: 'evt_01a21c6505b077bd96695956a73d85c4', tenant_id: 'acme-corp', seq: 8, event_type: 'DOCUMENT_INGESTED', timestamp: '2026-11-27T09:45:12.368Z', actor: 'dana',
  resource_type: 'document', resource_id: DOC,
  details: { sha256: SHA_PDF2, status: 'accepted', file_id: 'contract_002', batch_id: 'acme-test-001', component: 'intake', mime_type: 'application/pdf', receipt_id: 'rcp_01a21c6505837d1a9ad1ee1036455378', size_bytes: 653, output_hash: SHA_PDF2, scan_result: 'not_scanned', storage_key: `raw/acme-corp/contract_002/${SHA_PDF2}` },
  previous_event_id: null,
  prev_hash: 'df47f85039892ac70882fe9ae94b922d7dd1e96b8bbb0e08b7bb5791ce4ff1a1',
  hash: '26dda16f437dc7d2d9598921c342111bf137b60358fb8bbf0683c18e332c2604',
};
const exportId = 'exp_01a21c66e5af7db3bd8bce9a4806e8c6';
const exportLinks = { self: `/api/v1/audit/acme-corp/exports/${exportId}`, file: `/api/v1/audit/acme-corp/exports/${exportId}/file`, manifest: `/api/v1/audit/acme-corp/exports/${exportId}/manifest` };
const exportManifest = {
  tenant_id: 'acme-corp', format: 'jsonl', from: null, to: null, resource_id: DOC, event_count: 3,
  file_sha256: '04aecfe1fce4ca50b4e748388b0dad933ab59c3309045f219f977412fccce775', first_seq: 8, last_seq: 17,
  first_prev_hash: 'df47f85039892ac70882fe9ae94b922d7dd1e96b8bbb0e08b7bb5791ce4ff1a1', last_hash: '7269b5183b9674869444e89c8affd7e14c7d68034ac5866c2d3dab70eda233d4',
  created_at: '2026-11-27T09:47:15.611Z', kid: 'key_01a21c647dc47e02ab5abe737b557b78', alg: 'EdDSA',
  signature: 'eyJhbGciOiJFZERTQSIsImtpZCI6ImtleV8wMWEyMWM2NDdkYzQ3ZTAyYWI1YWJlNzM3YjU1N2I3OCIsInR5cCI6ImZyb3N0Ynl0ZS1hdWRpdC1tYW5pZmVzdCtqd3MifQ..AihRv8utZHLaBRQFqK_9tXkHh8cJlI4H2TLmKahOmmWLnxVNZEdcUzIRRLCeLRJvCA8lZOaS8vJqzVD0DibSBw',
};
const exportView = {
  export_id: exportId, tenant_id: 'acme-corp', status: 'completed', format: 'jsonl', from: null, to: null, resource_id: DOC, requested_by: 'legal-export', schedule_id: null,
  created_at: '2026-11-27T09:47:15.247Z', completed_at: '2026-11-27T09:47:15.702Z', event_count: 3, file_sha256: exportManifest.file_sha256, manifest: exportManifest, error: null, links: exportLinks,
};

const tenantStatusExample = {
  tenant_id: 'acme-corp', state: 'ACTIVE', config: {}, config_version: 1, storage: { bucket: 'frostbyte-acme-corp', schema: 'tenant_acme_corp' },
  created_at: '2026-11-27T09:44:32.801Z', updated_at: '2026-11-27T09:44:33.266Z', stuck: false,
  run: { run_id: 'run_01a21c646b61738182f0da550cfa80ab', kind: 'provision', status: 'succeeded', requested_by: 'cli', started_at: '2026-11-27T09:44:32.865Z', finished_at: '2026-11-27T09:44:33.266Z', deadline_at: '2026-11-27T09:59:32.865Z', stuck: false, stuck_reported_at: null, error: null },
  steps: [
    { name: 'storage', position: 5, status: 'succeeded', attempts: 1, started_at: '2026-11-27T09:44:32.938Z', finished_at: '2026-11-27T09:44:33.155Z', duration_ms: 217, resource_ids: { bucket: 'frostbyte-acme-corp', schema: 'tenant_acme_corp' }, error: null },
    { name: 'health', position: 7, status: 'succeeded', attempts: 1, started_at: '2026-11-27T09:44:33.190Z', finished_at: '2026-11-27T09:44:33.246Z', duration_ms: 56, resource_ids: {}, error: null },
  ],
  notifications: [],
};
const auditSchedule = { schedule_id: 'sch_01a21c7100000000000000000000abcd', tenant_id: 'acme-corp', cron: '0 2 * * *', format: 'jsonl', enabled: true, last_run_at: null, next_run_at: '2026-11-28T02:00:00.000Z', created_at: '2026-11-27T10:00:00.000Z' };
const runStarted = { tenant_id: 'newco', state: 'PROVISIONING', run_id: 'run_01a21c7000000000000000000000abcd', from_step: 'volume' };

// ── the registry ──────────────────────────────────────────────────────────────────────────────

const tenantParam = { description: 'Your tenant id (a DNS label); must match the token and, when present, the host name.', example: 'acme-corp' };
const batchParam = { description: 'The manifest\'s batch_id.', example: 'acme-test-001' };
const endpointParam = { description: 'Webhook endpoint id (`whk_…`).', example: endpointExample.id };
const adminTenantParam = { description: 'Tenant id.', example: 'acme-corp' };
const tenantOrAdmin = { kind: 'tenant-or-admin', scopes: ['ingest'] } as const;
const auditAccess = { kind: 'tenant', scopes: ['audit'] } as const;

const json = (description: string, example: unknown, schema?: NamedSchema) => ({ description, example, ...(schema ? { schema } : {}) });

const healthRoutes = (prefix: string): RouteDoc[] => [
  {
    method: 'get', path: `${prefix}/health`, operationId: `health${prefix ? 'V1' : ''}`, summary: 'Liveness', tags: ['Health'], access: { kind: 'public' },
    description: 'Answers 200 while the process serves requests. Vendors: the first check of connectivity.',
    responses: { 200: { description: 'Serving.', schema: HealthSchema, example: { status: 'healthy', timestamp: '2026-11-27T09:45:49.351Z' } } },
  },
  {
    method: 'get', path: `${prefix}/health/ready`, operationId: `ready${prefix ? 'V1' : ''}`, summary: 'Readiness: database, storage and malware scanner', tags: ['Health'], access: { kind: 'public' },
    responses: {
      200: json('Ready.', { status: 'ready', timestamp: '2026-11-27T09:45:49.351Z', checks: { database: { status: 'ok', latency_ms: 1, vector_search: 'hnsw' }, storage: { status: 'ok', latency_ms: 1 }, scanner: { status: 'not_configured', note: 'files are accepted with scan_result not_scanned' } } }),
      503: json('A dependency failed; `checks` says which.', { status: 'not_ready', timestamp: '2026-11-27T09:45:49.351Z', checks: { database: { status: 'ok', latency_ms: 1, vector_search: 'hnsw' }, storage: { status: 'failed', latency_ms: 3002 }, scanner: { status: 'not_configured', note: 'files are accepted with scan_result not_scanned' } } }),
    },
  },
];

const tenantHealthExample = (status: 'ready' | 'not_ready') => ({
  tenant_id: 'acme-corp', status, timestamp: '2026-11-27T09:44:33.240Z',
  checks: { database: { status: 'ok', latency_ms: 2 }, storage: status === 'ready' ? { status: 'ok', latency_ms: 1 } : { status: 'failed', latency_ms: 4 } },
});
const tenantHealthRoutes: RouteDoc[] = [
  {
    method: 'get', path: '/api/v1/tenants/:tenant_id/health', operationId: 'tenantReady', summary: 'Readiness of one tenant: its database and bucket', tags: ['Health'], access: { kind: 'public' },
    description: [
      "Checks the tenant's own data plane: a query on its database and a probe of its bucket. Answers statuses and timings only. Provisioning calls it at the tenant's public URL (`TENANT_PUBLIC_URL`) before the tenant becomes ACTIVE; monitors can call it at `https://{tenant}.<TENANT_DOMAIN>/api/v1/tenants/{tenant}/health`.",
      'A tenant that does not exist (or was deprovisioned) is 404. On a tenant host the host and the path must name the same tenant.',
    ].join('\n\n'),
    params: { tenant_id: { description: 'Tenant id (a DNS label); must match the host name when it names a tenant.', example: 'acme-corp' } },
    responses: {
      200: json('Ready: the database and the bucket answered.', tenantHealthExample('ready'), { name: 'TenantHealth', schema: TenantHealthSchema }),
      503: json('Not ready; `checks` says which part failed.', tenantHealthExample('not_ready'), { name: 'TenantHealth', schema: TenantHealthSchema }),
    },
    errors: ['NOT_FOUND', 'TENANT_MISMATCH'],
  },
];

const ingestRoutes: RouteDoc[] = [
  {
    method: 'post', path: '/api/v1/ingest/:tenant_id/batch', operationId: 'submitBatch', summary: 'Submit a batch', tags: ['Ingest'], access: { kind: 'tenant', scopes: ['ingest'] },
    description: [
      'multipart/form-data: the `manifest` part first (JSON), then one `files` part per manifest entry, matched by filename (by position when names repeat). The body is streamed: size, SHA-256 and type (from the bytes) are computed while it arrives.',
      'Every file gets an outcome: `accepted`, `duplicate` (same bytes already held), `rejected` (`UNSUPPORTED_FORMAT`, `SIZE_EXCEEDED`, `CHECKSUM_MISMATCH`, `MISSING_FILE`) or `quarantined` (`MALWARE_DETECTED`, `SCAN_FAILED`).',
      'Resubmitting a batch_id with the same manifest replays the original receipt (header `Frostbyte-Replayed: true`); with a different manifest it is 409 `BATCH_ID_CONFLICT`.',
      'CLI: `frostbyte submit <dir|manifest.json> --watch`.',
    ].join('\n\n'),
    params: { tenant_id: tenantParam },
    request: {
      contentType: 'multipart/form-data', schema: Manifest,
      description: 'curl: `-F "manifest=@manifest.json;type=application/json" -F "files=@contract_001.pdf" …`',
      examples: { testBatch: { summary: 'A three-file test batch', value: manifestExample } },
    },
    responses: {
      202: { description: 'The receipt. `Location` is the batch status URL.', schema: BatchReceipt, example: receiptExample, headers: { Location: 'The batch status URL.', 'Frostbyte-Replayed': '`true` when this is the stored receipt of an earlier identical submission.' } },
    },
    errors: ['MANIFEST_INVALID', 'MANIFEST_FILE_COUNT_MISMATCH', 'DUPLICATE_FILE_ID', 'BATCH_TOO_LARGE', 'MULTIPART_INVALID', 'UPLOAD_INCOMPLETE', 'BATCH_ID_CONFLICT', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'RATE_LIMIT_EXCEEDED', 'SERVICE_UNAVAILABLE'],
  },
  {
    method: 'get', path: '/api/v1/ingest/:tenant_id/batch/:batch_id', operationId: 'getBatchStatus', summary: 'Batch status', tags: ['Ingest'], access: { kind: 'tenant', scopes: ['ingest', 'query'] },
    description: 'Per-file status and stages. Poll until `status` is `completed` or `completed_with_errors` (every 2–10 s is plenty), or use a webhook. CLI: `frostbyte status <batch_id> --watch`.',
    params: { tenant_id: tenantParam, batch_id: batchParam },
    responses: { 200: { description: 'The batch.', schema: BatchStatus, example: statusExample } },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'get', path: '/api/v1/ingest/:tenant_id/batch/:batch_id/report', operationId: 'getBatchReport', summary: 'Acceptance report', tags: ['Ingest'], access: { kind: 'tenant', scopes: ['ingest', 'query'] },
    description: 'Per-file outcome, pages, chunks, parser warnings and what to do about each failure. JSON, or Markdown with `Accept: text/markdown`.',
    params: { tenant_id: tenantParam, batch_id: batchParam },
    responses: { 200: { description: 'The report (JSON; `text/markdown` when asked).', schema: BatchReport, example: reportExample } },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'get', path: '/api/v1/ingest/:tenant_id/receipt/:receipt_id', operationId: 'getReceipt', summary: 'One file receipt', tags: ['Ingest'], access: { kind: 'tenant', scopes: ['ingest', 'query'] },
    params: { tenant_id: tenantParam, receipt_id: { description: 'A `receipt_id` from the batch receipt.', example: 'rcp_01a21c6505837d1a9ad1ee12f8ed7c43' } },
    responses: {
      200: {
        description: 'The immutable receipt of one file.', schema: FileReceipt,
        example: {
          receipt_id: 'rcp_01a21c6505837d1a9ad1ee12f8ed7c43', tenant_id: 'acme-corp', batch_id: 'acme-test-001', file_id: 'notes', doc_id: 'doc_01a21c65057078d7b006c975365b3c22', status: 'rejected',
          sha256: SHA_TXT_SENT, size_bytes: 107, duplicate_of: null, reason: 'CHECKSUM_MISMATCH', message: receiptExample.rejected_files[0].message, scan_result: 'not_scanned', received_at: AT,
        },
      },
    },
    errors: ['NOT_FOUND'],
  },
];

const queryRoutes: RouteDoc[] = [
  {
    method: 'post', path: '/api/v1/query/:tenant_id/search', operationId: 'search', summary: 'Hybrid search with citations', tags: ['Query'], access: { kind: 'tenant', scopes: ['query'] },
    description: 'Full-text and vector similarity fused by reciprocal rank fusion. Every hit cites its document, page and character offsets. Records RETRIEVAL_EXECUTED (ids and counts, never the query text). A `Warning` header says when some chunks were indexed with another embedder.',
    params: { tenant_id: tenantParam },
    request: {
      contentType: 'application/json', schema: SearchRequest,
      examples: {
        simple: { summary: 'Five best chunks', value: { query_text: 'delete personal data', top_k: 5 } },
        filtered: { summary: 'Keyword search in one batch, PDFs only', value: { query_text: 'termination notice period', mode: 'keyword', top_k: 10, filters: { batch_ids: ['acme-test-001'], mime_types: ['application/pdf'], date_range: { from: '2026-01-01T00:00:00Z' } } } },
      },
    },
    responses: {
      200: json('Hits, best first.', {
        query_id: 'qry_01a21c65890571fe92d3c32bcdfc7533', mode: 'hybrid', top_k: 2, model_version_match: true, embed_model: 'frostbyte-local-hash', embed_version: '1',
        chunks: [{ chunk_id: CHUNK, doc_id: DOC, file_id: 'contract_002', original_filename: 'contract_002.pdf', text: 'Data processing addendum: processor shall delete personal data within 30 days', page: 1, start_char: 0, end_char: 77, score: 0.0328, embed_model: 'frostbyte-local-hash', embed_version: '1', source_sha256: SHA_PDF2 }],
      }),
    },
    errors: ['VALIDATION_FAILED'],
  },
  {
    method: 'get', path: '/api/v1/query/:tenant_id/document/:doc_id', operationId: 'getDocument', summary: 'Document metadata, chunks and lineage', tags: ['Query'], access: { kind: 'tenant', scopes: ['query'] },
    params: { tenant_id: tenantParam, doc_id: { description: 'Document id (`doc_…`) from a receipt or a search hit.', example: DOC } },
    responses: {
      200: json('The document.', {
        doc_id: DOC, tenant_id: 'acme-corp', status: 'indexed', mime_type: 'application/pdf', size_bytes: 653, pages: 1,
        lineage: { ...lineage, embedder: { model: 'frostbyte-local-hash', version: '1', dimensions: 384 } },
        chunks: [{ chunk_id: CHUNK, page: 1, start_char: 0, end_char: 77, element_types: ['paragraph'], section_title: null }],
      }),
    },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'get', path: '/api/v1/query/:tenant_id/chunk/:chunk_id', operationId: 'getChunk', summary: 'One chunk with its text and lineage', tags: ['Query'], access: { kind: 'tenant', scopes: ['query'] },
    params: { tenant_id: tenantParam, chunk_id: { description: 'Chunk id (`chk_…`).', example: CHUNK } },
    responses: {
      200: json('The chunk.', {
        chunk_id: CHUNK, doc_id: DOC, tenant_id: 'acme-corp', text: 'Data processing addendum: processor shall delete personal data within 30 days', page: 1, start_char: 0, end_char: 77,
        element_types: ['paragraph'], section_title: null, source_sha256: SHA_PDF2, embed_model: 'frostbyte-local-hash', embed_version: '1', lineage,
      }),
    },
    errors: ['NOT_FOUND'],
  },
];

const webhookBase = '/api/v1/webhooks/:tenant_id/endpoints';
const webhookRoutes: RouteDoc[] = [
  {
    method: 'post', path: webhookBase, operationId: 'createWebhookEndpoint', summary: 'Create a webhook endpoint', tags: ['Webhooks'], access: tenantOrAdmin, params: { tenant_id: tenantParam },
    description: 'The answer carries the signing `secret`, shown this once. Deliveries are signed per Standard Webhooks (docs/webhooks.md).',
    request: { contentType: 'application/json', schema: CreateEndpointInput, examples: { erp: { summary: 'Both batch outcomes', value: { url: 'https://erp.acme.example/hooks/frostbyte', events: ['batch.completed', 'batch.completed_with_errors'], description: 'ERP intake' } } } },
    responses: { 201: json('Created; `secret` is shown only here.', { ...endpointExample, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }) },
    errors: ['VALIDATION_FAILED', 'CONFLICT'],
  },
  {
    method: 'get', path: webhookBase, operationId: 'listWebhookEndpoints', summary: 'List webhook endpoints', tags: ['Webhooks'], access: tenantOrAdmin, params: { tenant_id: tenantParam },
    responses: { 200: json('Endpoints, without secrets.', { endpoints: [endpointExample] }) },
  },
  {
    method: 'get', path: `${webhookBase}/:endpoint_id`, operationId: 'getWebhookEndpoint', summary: 'One webhook endpoint', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam }, responses: { 200: json('The endpoint.', endpointExample) }, errors: ['NOT_FOUND'],
  },
  {
    method: 'patch', path: `${webhookBase}/:endpoint_id`, operationId: 'updateWebhookEndpoint', summary: 'Change url, events or description', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam },
    request: { contentType: 'application/json', schema: UpdateEndpointInput, examples: { events: { summary: 'Only failures', value: { events: ['batch.completed_with_errors'] } } } },
    responses: { 200: json('The endpoint.', { ...endpointExample, events: ['batch.completed_with_errors'] }) }, errors: ['VALIDATION_FAILED', 'NOT_FOUND'],
  },
  {
    method: 'post', path: `${webhookBase}/:endpoint_id/disable`, operationId: 'disableWebhookEndpoint', summary: 'Stop deliveries', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam },
    request: { contentType: 'application/json', required: false, schema: DisableEndpointInput, examples: { maintenance: { summary: 'With a reason', value: { reason: 'ERP maintenance window' } } } },
    responses: { 200: json('The endpoint, `status: "disabled"`.', { ...endpointExample, status: 'disabled', disabled_reason: 'ERP maintenance window' }) }, errors: ['VALIDATION_FAILED', 'NOT_FOUND'],
  },
  {
    method: 'post', path: `${webhookBase}/:endpoint_id/enable`, operationId: 'enableWebhookEndpoint', summary: 'Resume deliveries', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam }, responses: { 200: json('The endpoint, `status: "active"`.', endpointExample) }, errors: ['NOT_FOUND'],
  },
  {
    method: 'post', path: `${webhookBase}/:endpoint_id/rotate-secret`, operationId: 'rotateWebhookSecret', summary: 'Rotate the signing secret', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam },
    request: { contentType: 'application/json', required: false, schema: RotateSecretInput, examples: { day: { summary: 'Old secret keeps signing for 24 h', value: { grace_period_hours: 24 } } } },
    responses: { 200: json('The endpoint with the new `secret` (shown once).', { ...endpointExample, previous_secret_expires_at: '2026-11-28T10:02:11.402Z', secret: 'whsec_Q2hhbmdlZCBzZWNyZXQgZXhhbXBsZQ==' }) },
    errors: ['VALIDATION_FAILED', 'NOT_FOUND'],
  },
  {
    method: 'delete', path: `${webhookBase}/:endpoint_id`, operationId: 'deleteWebhookEndpoint', summary: 'Delete an endpoint and its delivery log', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam }, responses: { 204: { description: 'Deleted.' } }, errors: ['NOT_FOUND'],
  },
  {
    method: 'get', path: `${webhookBase}/:endpoint_id/deliveries`, operationId: 'listWebhookDeliveries', summary: 'Delivery log, newest first', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam }, query: ListDeliveriesQuery,
    responses: { 200: json('One page.', { deliveries: [deliveryExample], next_cursor: null, has_more: false }) }, errors: ['VALIDATION_FAILED', 'NOT_FOUND'],
  },
  {
    method: 'get', path: `${webhookBase}/:endpoint_id/deliveries/:delivery_id`, operationId: 'getWebhookDelivery', summary: 'One delivery with every attempt', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam, delivery_id: { description: 'Delivery id (`dlv_…`).', example: deliveryExample.id } },
    responses: { 200: json('The delivery.', deliveryExample) }, errors: ['NOT_FOUND'],
  },
  {
    method: 'post', path: `${webhookBase}/:endpoint_id/deliveries/:delivery_id/redeliver`, operationId: 'redeliverWebhook', summary: 'Send a delivery again now', tags: ['Webhooks'], access: tenantOrAdmin,
    params: { tenant_id: tenantParam, endpoint_id: endpointParam, delivery_id: { description: 'Delivery id (`dlv_…`).', example: deliveryExample.id } },
    responses: { 202: json('Queued.', { ...deliveryExample, status: 'pending' }) }, errors: ['NOT_FOUND', 'CONFLICT'],
  },
];

const auditBase = '/api/v1/audit/:tenant_id';
const auditRoutes: RouteDoc[] = [
  {
    method: 'get', path: `${auditBase}/events`, operationId: 'listAuditEvents', summary: 'Query audit events', tags: ['Audit'], access: auditAccess, params: { tenant_id: tenantParam }, query: EventsQuery,
    description: 'Oldest first. Query: `from` (inclusive), `to` (exclusive), `resource_id`, `resource_type`, `event_type`, `cursor` (`next_cursor` of the previous page), `limit` (1–1000, default 100). 300 requests per minute per tenant.',
    responses: { 200: json('One page.', { tenant_id: 'acme-corp', events: [auditEvent], has_more: true, next_cursor: '8' }) }, errors: ['VALIDATION_FAILED', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'get', path: `${auditBase}/events/:event_id`, operationId: 'getAuditEvent', summary: 'One audit event', tags: ['Audit'], access: auditAccess,
    params: { tenant_id: tenantParam, event_id: { description: 'Event id (`evt_…`).', example: auditEvent.event_id } },
    responses: { 200: json('The event.', auditEvent) }, errors: ['NOT_FOUND', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'get', path: `${auditBase}/chain/:resource_id`, operationId: 'getProvenanceChain', summary: 'Provenance chain of one resource, checked', tags: ['Audit'], access: auditAccess,
    params: { tenant_id: tenantParam, resource_id: { description: 'A document, batch or other resource id.', example: DOC } },
    responses: { 200: json('The chain and whether it holds.', { tenant_id: 'acme-corp', resource_id: DOC, resource_type: 'document', events: [auditEvent], length: 3, truncated: false, valid: true, break: null }) },
    errors: ['NOT_FOUND', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'get', path: `${auditBase}/verify`, operationId: 'verifyAuditLog', summary: 'Check the log chain', tags: ['Audit'], access: auditAccess, params: { tenant_id: tenantParam },
    description: 'Query: `from`, `to` (timestamps) or `from_seq`, `to_seq`.',
    responses: { 200: json('The check.', { valid: true, tenant_id: 'acme-corp', checked: 25, first_seq: 1, last_seq: 25, last_hash: 'b20d32682d61edb958bc2212930d7501319224f7850ba3bb0fc551f41895d187' }) },
    errors: ['VALIDATION_FAILED', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'post', path: `${auditBase}/exports`, operationId: 'requestAuditExport', summary: 'Request an export', tags: ['Audit'], access: auditAccess, params: { tenant_id: tenantParam },
    request: {
      contentType: 'application/json', schema: { name: 'AuditExportRequest', schema: ExportBody },
      examples: { range: { summary: 'One day of events as JSON Lines', value: { from: '2026-02-11T00:00:00Z', to: '2026-02-12T00:00:00Z', format: 'jsonl' } }, document: { summary: 'One document\'s provenance', value: { resource_id: 'doc_01a21c6f000000000000000000000001' } } },
    },
    description: 'Body `{from?, to?, resource_id?, format?}` (`format`: `jsonl` default, or `cef`). The export runs in the background; poll its `links.self`. CLI: `frostbyte audit export`.',
    responses: { 202: json('Queued.', { ...exportView, status: 'pending', completed_at: null, event_count: null, file_sha256: null, manifest: null }) },
    errors: ['VALIDATION_FAILED', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'get', path: `${auditBase}/exports`, operationId: 'listAuditExports', summary: 'List exports', tags: ['Audit'], access: auditAccess, params: { tenant_id: tenantParam },
    responses: { 200: json('Newest first.', { exports: [exportView], next_cursor: null, has_more: false }) }, errors: ['VALIDATION_FAILED', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'get', path: `${auditBase}/exports/:export_id`, operationId: 'getAuditExport', summary: 'Export status and signed manifest', tags: ['Audit'], access: auditAccess,
    params: { tenant_id: tenantParam, export_id: { description: 'Export id (`exp_…`).', example: exportId } },
    responses: { 200: json('The export.', exportView) }, errors: ['NOT_FOUND', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'get', path: `${auditBase}/exports/:export_id/file`, operationId: 'downloadAuditExport', summary: 'Download the export file', tags: ['Audit'], access: auditAccess,
    params: { tenant_id: tenantParam, export_id: { description: 'Export id (`exp_…`).', example: exportId } },
    responses: { 200: { description: 'JSON Lines (or CEF), one event per line. `Repr-Digest` carries its SHA-256.', contentType: 'application/x-ndjson', example: `${JSON.stringify(auditEvent)}\n`, headers: { 'Repr-Digest': 'RFC 9530 `sha-256=:<base64>:` of the file.' } } },
    errors: ['NOT_FOUND', 'CONFLICT', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'get', path: `${auditBase}/exports/:export_id/manifest`, operationId: 'downloadAuditExportManifest', summary: 'Download the signed manifest', tags: ['Audit'], access: auditAccess,
    params: { tenant_id: tenantParam, export_id: { description: 'Export id (`exp_…`).', example: exportId } },
    responses: { 200: json('The manifest, signed with the platform key `kid` (JWS, detached payload).', exportManifest) }, errors: ['NOT_FOUND', 'CONFLICT', 'RATE_LIMIT_EXCEEDED'],
  },
  {
    method: 'get', path: `${auditBase}/stream`, operationId: 'streamAuditEvents', summary: 'Follow new events (Server-Sent Events)', tags: ['Audit'], access: auditAccess, params: { tenant_id: tenantParam },
    description: 'Each message: `id: <seq>`, `data:` the event\'s canonical JSON. Resume with `Last-Event-ID` (or `?last_event_id=`). Query: `max_seconds` (≤ 3600, default 300), `heartbeat_seconds` (≤ 60, default 15).',
    responses: { 200: { description: 'An event stream.', contentType: 'text/event-stream', example: `retry: 3000\n: frostbyte audit stream of acme-corp after seq 25\n\nid: 26\ndata: ${JSON.stringify(auditEvent)}\n\n` } },
    errors: ['VALIDATION_FAILED', 'RATE_LIMIT_EXCEEDED'],
  },
];

const adminTenantBase = '/api/v1/admin/tenants';
const adminAction = (path: string, operationId: string, summary: string, example: unknown, status = 202, extra: Partial<RouteDoc> = {}): RouteDoc => ({
  method: 'post', path: `${adminTenantBase}/:id/${path}`, operationId, summary, tags: ['Admin: tenants'], access: { kind: 'admin' }, params: { id: adminTenantParam },
  responses: { [status]: json(status === 202 ? 'Accepted; follow `Location`.' : 'Done.', example) }, errors: ['NOT_FOUND', 'CONFLICT'], ...extra,
});
const adminRoutes: RouteDoc[] = [
  {
    method: 'post', path: adminTenantBase, operationId: 'createTenant', summary: 'Create and provision a tenant', tags: ['Admin: tenants'], access: { kind: 'admin' },
    description: 'Body `{tenant_id, config?}`; provisioning runs in the background (docs/runbooks/provisioning.md).',
    responses: { 202: json('Provisioning started; follow `Location`.', { ...tenantStatusExample, tenant_id: 'newco', state: 'PROVISIONING' }) }, errors: ['VALIDATION_FAILED', 'CONFLICT'],
  },
  {
    method: 'get', path: adminTenantBase, operationId: 'listTenants', summary: 'List tenants', tags: ['Admin: tenants'], access: { kind: 'admin' },
    description: 'Query: `state`, `cursor`, `limit`.',
    responses: { 200: json('One page.', { tenants: [{ tenant_id: 'acme-corp', state: 'ACTIVE', config_version: 1, created_at: '2026-11-27T09:44:32.801Z', updated_at: '2026-11-27T09:44:33.266Z', run_status: 'succeeded', stuck: false }], next_cursor: null }) },
  },
  { method: 'get', path: `${adminTenantBase}/:id`, operationId: 'getTenant', summary: 'Tenant state and provisioning steps', tags: ['Admin: tenants'], access: { kind: 'admin' }, params: { id: adminTenantParam }, responses: { 200: json('The tenant.', tenantStatusExample) }, errors: ['NOT_FOUND'] },
  {
    method: 'get', path: `${adminTenantBase}/:id/resources`, operationId: 'listTenantResources', summary: 'Cloud resources labelled with the tenant', tags: ['Admin: tenants'], access: { kind: 'admin' }, params: { id: adminTenantParam },
    responses: { 200: json('Resources and storage health.', { tenant_id: 'acme-corp', state: 'ACTIVE', cloud: 'none', label_selector: 'tenant_id=acme-corp,managed_by=frostbyte', resources: [], storage: { bucket: 'frostbyte-acme-corp', schema: 'tenant_acme_corp' }, health: { database: { status: 'ok', latency_ms: 1 }, storage: { status: 'ok', latency_ms: 0 } } }) },
    errors: ['NOT_FOUND'],
  },
  adminAction('resume', 'resumeProvisioning', 'Resume a failed provisioning run from the failed step', runStarted),
  adminAction('rollback', 'rollbackTenant', 'Delete what provisioning created, in reverse order', { tenant_id: 'newco', state: 'FAILED', run_id: 'run_01a21c7000000000000000000000abce', steps: ['volume', 'server', 'firewall', 'network'] }),
  adminAction('suspend', 'suspendTenant', 'Suspend a tenant (its tokens get 403 TENANT_SUSPENDED)', { tenant_id: 'acme-corp', state: 'SUSPENDED', changed: true }, 200, { description: 'Body `{reason?}`.' }),
  adminAction('resume-service', 'resumeTenantService', 'Resume a suspended tenant', { tenant_id: 'acme-corp', state: 'ACTIVE', changed: true }, 200),
  adminAction('deprovision', 'deprovisionTenant', 'Deprovision a tenant', { tenant_id: 'newco', state: 'DEPROVISIONING', run_id: 'run_01a21c7000000000000000000000abcf', steps: ['storage'] }, 202, { description: 'Body `{confirm}`: the tenant id, to confirm.' }),
  adminAction('abandon', 'abandonTenant', 'Give up on a FAILED tenant: clean up what is left, mark it DEPROVISIONED', { tenant_id: 'newco', state: 'FAILED', run_id: 'run_01a21c7000000000000000000000abd0', steps: ['storage'] }),
  {
    method: 'patch', path: `${adminTenantBase}/:id/config`, operationId: 'updateTenantConfig', summary: 'Narrow the platform limits for one tenant', tags: ['Admin: tenants'], access: { kind: 'admin' }, params: { id: adminTenantParam },
    request: { contentType: 'application/json', schema: TenantConfigPatchSchema, examples: { limits: { summary: 'PDFs only, 200 MiB per file', value: { mime_allowlist: ['application/pdf'], max_file_size_mb: 200 } }, reset: { summary: 'Back to the platform default', value: { mime_allowlist: null } } } },
    responses: { 200: json('The tenant with its new config.', { ...tenantStatusExample, config: { mime_allowlist: ['application/pdf'], max_file_size_mb: 200 }, config_version: 2 }) },
    errors: ['VALIDATION_FAILED', 'NOT_FOUND'],
  },
  {
    method: 'post', path: `${adminTenantBase}/:id/audit-schedules`, operationId: 'createAuditSchedule', summary: 'Export a tenant\'s audit log on a schedule', tags: ['Admin: tenants', 'Audit'], access: { kind: 'admin' }, params: { id: adminTenantParam },
    description: 'Body `{cron, format?}`: 5-field cron in UTC; each run exports the window since the previous one.',
    responses: { 201: json('Created.', auditSchedule) },
    errors: ['VALIDATION_FAILED', 'NOT_FOUND'],
  },
  {
    method: 'get', path: `${adminTenantBase}/:id/audit-schedules`, operationId: 'listAuditSchedules', summary: 'List a tenant\'s export schedules', tags: ['Admin: tenants', 'Audit'], access: { kind: 'admin' }, params: { id: adminTenantParam },
    responses: { 200: json('Schedules.', { tenant_id: 'acme-corp', schedules: [auditSchedule] }) }, errors: ['NOT_FOUND'],
  },
  {
    method: 'delete', path: `${adminTenantBase}/:id/audit-schedules/:schedule_id`, operationId: 'deleteAuditSchedule', summary: 'Delete an export schedule (its exports stay)', tags: ['Admin: tenants', 'Audit'], access: { kind: 'admin' },
    params: { id: adminTenantParam, schedule_id: { description: 'Schedule id.', example: 'sch_01a21c7100000000000000000000abcd' } }, responses: { 204: { description: 'Deleted.' } }, errors: ['NOT_FOUND'],
  },
  {
    method: 'get', path: '/api/v1/admin/dead-letters', operationId: 'listDeadLetters', summary: 'Step messages whose retries ran out', tags: ['Admin: pipeline'], access: { kind: 'admin' },
    description: 'Query: `tenant_id`, `limit` (≤ 1000), `include_retried`.',
    responses: { 200: json('Dead letters, newest first.', { dead_letters: [{ id: 'msg_01a21c7200000000000000000000abcd', tenant_id: 'acme-corp', topic: 'parse', dedup_id: `${DOC}:parse:${SHA_PDF2}`, error: 'parser worker exited', attempts: 6, created_at: '2026-11-27T11:00:00.000Z', retried_at: null, doc_id: DOC, file_id: 'file_017' }] }) },
    errors: ['VALIDATION_FAILED'],
  },
  {
    method: 'post', path: '/api/v1/admin/tenants/:tenant_id/files/:file_id/retry', operationId: 'retryFile', summary: 'Retry a failed or stuck file from the stage it failed in', tags: ['Admin: pipeline'], access: { kind: 'admin' },
    description: 'Query `batch_id` when the file_id appears in several batches. Intake outcomes (rejected, quarantined) cannot be retried: the vendor resubmits those. CLI: `frostbyte retry`.',
    params: { tenant_id: adminTenantParam, file_id: { description: 'The manifest\'s file_id.', example: 'file_017' } },
    responses: { 202: json('Queued.', { tenant_id: 'acme-corp', batch_id: 'acme-test-001', file_id: 'file_017', doc_id: DOC, resumed_from: 'parse', generation: 2 }) },
    errors: ['NOT_FOUND', 'CONFLICT'],
  },
];

const tokenRoutes: RouteDoc[] = [
  {
    method: 'post', path: '/api/v1/admin/tokens', operationId: 'issueToken', summary: 'Mint a token', tags: ['Admin: tokens'], access: { kind: 'admin' },
    description: 'Tenant tokens name a `tenant_id`; admin tokens (scope `admin`) carry none. The token is in this answer only. CLI: `frostbyte token issue`.',
    request: {
      contentType: 'application/json', schema: IssueTokenSchema,
      examples: {
        vendor: { summary: 'A vendor token for 30 days', value: { tenant_id: 'acme-corp', scopes: ['ingest', 'query'], ttl: '30d', sub: 'dana@acme.example' } },
        audit: { summary: 'A read-only audit token for a legal team', value: { tenant_id: 'acme-corp', scopes: ['audit'], ttl: '7d', sub: 'legal-export' } },
      },
    },
    responses: { 201: json('The token (shown once) and its id, for revocation.', { token: 'eyJhbGciOiJFZERTQSIsImtpZCI6ImtleV8wMWEyMWM3Y2E1NTE3ZmMxYTk4OTNiNWIzMWVmZjQ5MSJ9.eyJzdWIiOiJkYW5hQGFjbWUuZXhhbXBsZSJ9.c2lnbmF0dXJl', jti: 'jti_01a21c7ce5e87c3aa1a0f1a2b3c4d5e6', expires_at: '2026-12-27T10:11:17.000Z', scopes: ['ingest', 'query'], tenant_id: 'acme-corp' }) },
    errors: ['VALIDATION_FAILED', 'NOT_FOUND'],
  },
  {
    method: 'post', path: '/api/v1/admin/tokens/revoke', operationId: 'revokeToken', summary: 'Revoke a token by its jti', tags: ['Admin: tokens'], access: { kind: 'admin' },
    description: 'Requests with the token answer 401 `TOKEN_REVOKED` from then on.',
    request: { contentType: 'application/json', schema: RevokeTokenSchema, examples: { leaked: { summary: 'A leaked vendor token', value: { jti: 'jti_01a21c7ce5e87c3aa1a0f1a2b3c4d5e6', tenant_id: 'acme-corp', expires_at: '2026-12-27T10:11:17.000Z' } } } },
    responses: { 200: json('Revoked.', { jti: 'jti_01a21c7ce5e87c3aa1a0f1a2b3c4d5e6', revoked: true, listed_until: '2026-12-27T10:11:17.000Z' }) },
    errors: ['VALIDATION_FAILED'],
  },
  {
    method: 'get', path: '/metrics', operationId: 'metrics', summary: 'Prometheus metrics', tags: ['Admin: pipeline'], access: { kind: 'admin' },
    description: '`frostbyte_{component}_{measurement}_{unit}` with a `tenant_id` label: intake bytes and files by outcome, step durations, queue depth and age, dead letters, retrieval latency, audit append latency. 404 on runtimes without metrics.',
    responses: { 200: { description: 'Prometheus text exposition format.', contentType: 'text/plain', example: '# TYPE frostbyte_intake_files_total counter\nfrostbyte_intake_files_total{tenant_id="acme-corp",outcome="accepted"} 158\n' } },
    errors: ['NOT_FOUND'],
  },
];

const otherRoutes: RouteDoc[] = [
  {
    method: 'get', path: '/.well-known/jwks.json', operationId: 'jwks', summary: 'Public keys for tokens and audit-export manifests', tags: ['Health'], access: { kind: 'public' },
    responses: { 200: json('JWKS; rotated keys stay while anything they signed may still be checked.', { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'S2COqqQPN5rBAR7NaA2dpiZl8PqDhGTP17VfN1zugsM', alg: 'EdDSA', kid: 'key_01a21c647dc47e02ab5abe737b557b78', use: 'sig' }] }) },
  },
  {
    method: 'get', path: '/openapi.json', operationId: 'openapi', summary: 'This document (OpenAPI 3.1)', tags: ['Reference'], access: { kind: 'public' },
    responses: { 200: json('The OpenAPI document, generated from the schemas the routes validate with.', { openapi: '3.1.0', info: { title: 'Frostbyte API', version: '1.0.0' } }) },
  },
  {
    method: 'get', path: '/docs', operationId: 'docsPage', summary: 'Interactive API reference', tags: ['Reference'], access: { kind: 'public' },
    responses: { 200: { description: 'A self-contained HTML page (no external assets) that renders /openapi.json and can send requests.', contentType: 'text/html', example: '<!doctype html>…' } },
  },
  // Control-plane steps get a route each (mounted before the generic one), so they are listed from the same list.
  ...controlSteps.map((step): RouteDoc => ({
    method: 'post', path: `/steps/${step.topic}`, operationId: `step_${step.topic.replace(/\W+/g, '_')}`, summary: `Control-plane step delivery: ${step.topic}`, tags: ['Internal'], access: { kind: 'step-signature' }, internal: true,
    responses: { 200: json('Done, or recorded as a permanent failure.', { ok: true }), 500: json('Retry me (the queue redelivers with backoff).', { ok: false }) },
  })),
  {
    method: 'post', path: '/steps/:topic', operationId: 'stepPipeline', summary: 'Pipeline step delivery', tags: ['Internal'], access: { kind: 'step-signature' }, internal: true,
    params: { topic: { description: `One of: ${pipelineSteps.map((s) => s.topic).join(', ')}.`, example: 'parse' } },
    responses: { 200: json('Done, or recorded as a permanent failure.', { ok: true }), 500: json('Retry me (the queue redelivers with backoff).', { ok: false }) },
  },
];

export const ROUTE_DOCS: readonly RouteDoc[] = [
  ...ingestRoutes, ...queryRoutes, ...webhookRoutes, ...auditRoutes, ...adminRoutes, ...tokenRoutes, ...healthRoutes(''), ...healthRoutes('/api/v1'), ...tenantHealthRoutes, ...otherRoutes,
];

/** Schemas listed under components even when no route references them by name. */
export const SHARED_SCHEMAS: readonly NamedSchema[] = [Problem, Manifest, BatchReceipt, BatchStatus];

/** Scopes a token can carry, for the reference page's token help. */
export const TOKEN_SCOPES = SCOPES;
