/**
 * The audit plane (DESIGN §6): a per-tenant, hash-chained, append-only event log with a
 * provenance chain per resource, and signed exports anyone can verify offline.
 *
 * Where events live
 * - Control plane: `audit_events` (the chains) and `audit_heads` (one row per tenant: last seq and
 *   hash). Triggers refuse UPDATE, DELETE and TRUNCATE on `audit_events`.
 * - Data plane: `audit_outbox`, written in the same transaction as the state an event describes.
 *
 * Writing
 * - `recordEvent(tx, tables, event, clock?)` / `recordEvents(...)` — data-plane state changes:
 *   insert into the tenant's audit_outbox inside the caller's data-plane transaction. Then call
 *   `services.onAuditRecorded?.(tenantId)` so the events get chained soon.
 * - `flushAuditOutbox(controlDb, planeDb, tables, tenantId, { clock, sha256 })` — appends pending
 *   outbox rows to the chain in ordinal order and marks them appended. Concurrency-safe and
 *   idempotent: run it after commits, from a sweeper, and at start-up.
 * - `appendEvents(controlDbOrTx, tenantId, events, clock?, { sha256 })` — appends directly; for
 *   control-plane-only events (tenant lifecycle) inside the caller's control-plane transaction,
 *   and for AUDIT_EXPORTED. Returns `{ events, skipped }`. Batch: cost is per transaction.
 *   Event inputs: `{ event_type, actor, resource_type, resource_id, details?, event_id?, timestamp? }`.
 *   A bad input throws AuditEventInvalidError (a caller bug, not a client error).
 *
 * Reading (all tenant-scoped; another tenant's ids are simply not found)
 * - `listEvents(db, tenantId, { from, to, resource_id, resource_type, event_type, cursor, limit })`
 *   → `{ events, next_cursor, has_more }`; seq order; `from` inclusive, `to` exclusive; limit 1–1000
 *   (default 100). Bad input throws AppError VALIDATION_FAILED with `errors[]`.
 * - `getEvent(db, tenantId, eventId)` → event | null.
 * - `getProvenanceChain(db, tenantId, resourceId, { sha256?, max_events? })` → `{ events, valid,
 *   break: null | { position, seq, event_id, reason, message, expected?, actual? }, … }` | null.
 * - `verifyLogChain(db, tenantId, { from?, to?, from_seq?, to_seq? }, { sha256? })` →
 *   `{ valid: true, checked, first_seq, last_seq, last_hash }` |
 *   `{ valid: false, checked, break: { seq, event_id, reason, message } }`.
 *
 * Exporting
 * - `openAuditExport(db, tenantId, { from?, to?, resource_id? }, { format: 'jsonl'|'cef', sha256,
 *   clock?, productVersion? (CEF) })` → `{ range, lines (async iterable), body() (ReadableStream of
 *   bytes), sign(signer) }`: streams one event per line, computing the file SHA-256 as it goes;
 *   `sign({ kid, privateKey })` afterwards returns the signed manifest. `exportAuditEvents(...)`
 *   does both around a `write(body)` callback; `auditExportKeys(tenantId, exportId, format)` names
 *   the objects (`audit-exports/{tenant}/{export}/…`); `auditExportedEvent(exportId, manifest,
 *   actor)` is the AUDIT_EXPORTED event to append afterwards.
 * - Manifest `{ tenant_id, format, from, to, resource_id?, event_count, file_sha256, first_seq,
 *   last_seq, first_prev_hash, last_hash, created_at, kid, alg: 'EdDSA', signature }`; `signature`
 *   is a detached compact JWS over the manifest's canonical JSON (manifest.ts explains it).
 * - `verifyExport(file, manifest, jwks, { sha256 })` → `{ ok: true, summary }` |
 *   `{ ok: false, code, line, reason }`; `file` is the file's bytes as a string, a Uint8Array or
 *   an async iterable of chunks (e.g. `fs.createReadStream(path)`, a fetch body) — not of lines.
 *   On Node, `verifyExportFile(path, manifest, jwks)` (shared/node/verify-export-file.ts) gives the
 *   same answer for a file on disk, checking its lines on every core (export-lines.ts).
 *
 * `sha256` is `services.sha256` (native). Functions that take it optionally fall back to WebCrypto.
 * `after_seq` in an export selection continues a feed right after a previous export's last_seq.
 *
 * Verbs over this library (API, steps, CLI, scheduler): service.ts (reads that flush the outbox
 * first, requestExport/runExport and the export files, the live feed) and schedules.ts
 * (create/list/delete schedules, runDueAuditSchedules for every runtime's cron).
 * Docs for support and SIEM teams: docs/audit.md.
 */
export { AUDIT_EVENT_TYPES, AUDIT_RESOURCE_TYPES, GENESIS_HASH, isAuditEventType, isAuditResourceType } from './types';
export type { AuditDetails, AuditEvent, AuditEventInput, AuditEventType, AuditResourceType } from './types';
export { canonicalJson, normalizeTimestamp } from './hashing';
export { AuditEventInvalidError, recordEvent, recordEvents } from './record';
export { appendEvents } from './append';
export type { AppendOptions, AppendResult } from './append';
export { flushAuditOutbox } from './flush';
export type { FlushOptions, FlushResult } from './flush';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, getEvent, getProvenanceChain, listEvents, readHead, verifyLogChain } from './queries';
export type { EventPage, ListEventsQuery, LogChainBreakReason, LogChainVerification, ProvenanceBreakReason, ProvenanceChain, VerifyLogChainRange } from './queries';
export { CEF_EVENT_MAP, CEF_EXTENSION_KEYS, formatCefEvent, parseCefEvent } from './cef';
export { EXPORT_FORMATS, MANIFEST_ALG, MANIFEST_TYP, SignedManifestSchema, signManifest, verifyManifest } from './manifest';
export type { AuditManifest, ExportFormat, ManifestSigner, SignedAuditManifest } from './manifest';
export { EXPORT_CONTENT_TYPES, auditExportKeys, auditExportedEvent, exportAuditEvents, openAuditExport } from './export';
export type { AuditExportStream, ExportOptions, ExportSelection } from './export';
export { verifyExport } from './verify-export';
export type { ExportFileInput, ExportProblem, ExportVerification } from './verify-export';
