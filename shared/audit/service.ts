import { and, asc, desc, eq, gt, lt, type SQL } from 'drizzle-orm';
import { auditExports, type AuditExportStatus } from '../db/schema/control-operations';
import type { DbOrTx } from '../db/types';
import { AppError, type FieldProblem } from '../http/errors';
import { newId } from '../ids';
import { enqueueControlStep } from '../queue/outbox';
import { RetryableStepError, type StepContext, type StepResult } from '../queue/step';
import { CONTROL } from '../queue/sweeper';
import type { Services } from '../services';
import { findTenant } from '../tenants/tenants';
import { notifyWebhooks } from '../webhooks/enqueue';
import { appendEvents } from './append';
import { EXPORT_CONTENT_TYPES, auditExportKeys, auditExportedEvent, openAuditExport, type ExportSelection } from './export';
import { flushAuditOutbox, type FlushResult } from './flush';
import { normalizeTimestamp } from './hashing';
import { EXPORT_FORMATS, type ExportFormat, type SignedAuditManifest } from './manifest';
import { getEvent, getProvenanceChain, listEvents, readHead, verifyLogChain, type EventPage, type ListEventsQuery, type LogChainVerification, type ProvenanceChain, type VerifyLogChainRange } from './queries';
import type { AuditEvent } from './types';

/**
 * The audit plane's verbs for the API, the export step, the scheduler and the CLI (issue 5).
 * Every read first appends the tenant's recorded-but-not-yet-chained events (its audit outbox),
 * so an event recorded just before a request is visible to it. Library calls get the runtime's
 * clock and native SHA-256 (`services.clock`, `services.sha256`).
 */

/** Frostbyte's version (package.json): the product version in CEF headers. */
export const FROSTBYTE_VERSION = '0.1.0';

/** Requests per minute per tenant across the audit API (DESIGN §4 429 + Retry-After). */
export const AUDIT_RATE_LIMIT_PER_MINUTE = 300;

/** Control step that writes an export (`/steps/audit-export`). */
export const AUDIT_EXPORT_TOPIC = 'audit-export';

/** Chains the tenant's pending audit outbox rows, so reads see every event recorded so far. */
export async function flushTenantAudit(services: Services, tenantId: string): Promise<FlushResult> {
  const plane = await services.planes.forTenant(tenantId);
  return flushAuditOutbox(services.control, plane.db, plane.tables, tenantId, { clock: services.clock, sha256: services.sha256 });
}

export async function queryAuditEvents(services: Services, tenantId: string, query: ListEventsQuery): Promise<EventPage & { tenant_id: string }> {
  await flushTenantAudit(services, tenantId);
  return { tenant_id: tenantId, ...(await listEvents(services.control, tenantId, query)) };
}

export async function readAuditEvent(services: Services, tenantId: string, eventId: string): Promise<AuditEvent> {
  await flushTenantAudit(services, tenantId);
  const event = await getEvent(services.control, tenantId, eventId);
  if (!event) throw new AppError('NOT_FOUND', `Audit event ${eventId} was not found.`);
  return event;
}

export async function readProvenanceChain(services: Services, tenantId: string, resourceId: string): Promise<ProvenanceChain> {
  await flushTenantAudit(services, tenantId);
  const chain = await getProvenanceChain(services.control, tenantId, resourceId, { sha256: services.sha256 });
  if (!chain) throw new AppError('NOT_FOUND', `No audit events for resource ${resourceId}.`);
  return chain;
}

export async function checkLogChain(services: Services, tenantId: string, range: VerifyLogChainRange): Promise<LogChainVerification> {
  await flushTenantAudit(services, tenantId);
  return verifyLogChain(services.control, tenantId, range, { sha256: services.sha256 });
}

// ── Live feed ────────────────────────────────────────────────────────────────────────────────

export type FollowItem = { kind: 'event'; event: AuditEvent } | { kind: 'heartbeat' };

export interface FollowOptions {
  /** Send events with seq greater than this. */
  afterSeq: number;
  /** The feed ends after this long (ms); the client reconnects with Last-Event-ID. */
  maxMs: number;
  /** A heartbeat after this long without output (ms), so proxies keep the connection. */
  heartbeatMs: number;
  /** How often the chain is polled for new events (ms). Default 1,000. */
  pollMs?: number;
  signal?: AbortSignal;
}

/** Where a live feed starts when the client names no position: after the newest chained event. */
export async function currentSeq(services: Services, tenantId: string): Promise<number> {
  await flushTenantAudit(services, tenantId);
  return (await readHead(services.control, tenantId)).last_seq;
}

/**
 * New events of a tenant as they are chained, in seq order, with heartbeats, for at most
 * `maxMs`. Durations are measured with the monotonic timer (a connection's age, not a time of day).
 */
export async function* followAuditEvents(services: Services, tenantId: string, opts: FollowOptions): AsyncGenerator<FollowItem> {
  const pollMs = opts.pollMs ?? 1000;
  const started = performance.now();
  let lastOutput = started;
  let after = opts.afterSeq;
  const elapsed = () => performance.now() - started;
  while (!opts.signal?.aborted && elapsed() < opts.maxMs) {
    await flushTenantAudit(services, tenantId);
    const page = await listEvents(services.control, tenantId, { cursor: String(after), limit: 500 });
    for (const event of page.events) {
      after = event.seq;
      lastOutput = performance.now();
      yield { kind: 'event', event };
    }
    if (page.has_more) continue;
    if (performance.now() - lastOutput >= opts.heartbeatMs) {
      lastOutput = performance.now();
      yield { kind: 'heartbeat' };
    }
    const wait = Math.min(pollMs, opts.heartbeatMs, Math.max(0, opts.maxMs - elapsed()));
    if (wait > 0) await sleep(wait, opts.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

// ── Exports ──────────────────────────────────────────────────────────────────────────────────

export interface ExportRequest {
  /** ISO-8601, inclusive. Required with `to` unless `resource_id` is given. */
  from?: string;
  /** ISO-8601, exclusive. */
  to?: string;
  /** One resource's provenance (e.g. a document); combinable with from/to. */
  resource_id?: string;
  /** Default `jsonl`. */
  format?: ExportFormat;
}

export interface ExportView {
  export_id: string;
  tenant_id: string;
  status: AuditExportStatus;
  format: ExportFormat;
  from: string | null;
  to: string | null;
  resource_id: string | null;
  requested_by: string;
  schedule_id: string | null;
  created_at: string;
  completed_at: string | null;
  event_count: number | null;
  file_sha256: string | null;
  manifest: SignedAuditManifest | null;
  error: string | null;
  links: { self: string; file: string; manifest: string };
}

type ExportRow = typeof auditExports.$inferSelect;

/** The selection as stored on the export row (normalized timestamps; absent members are null). */
interface StoredSelection {
  from: string | null;
  to: string | null;
  resource_id: string | null;
}

/** How far a requested `to` may lie ahead of the server's clock (client clock skew), ms. */
const MAX_FUTURE_SKEW_MS = 60_000;

/** Checks an export request and normalizes its times; VALIDATION_FAILED names each bad field. */
export function validateExportRequest(input: ExportRequest, now: Date): { selection: StoredSelection; format: ExportFormat } {
  const problems: FieldProblem[] = [];
  const format = input.format ?? 'jsonl';
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) problems.push({ field: 'format', message: `must be one of ${EXPORT_FORMATS.join(', ')}` });
  const from = input.from === undefined ? null : normalizeTimestamp(input.from);
  if (input.from !== undefined && from === null) problems.push({ field: 'from', message: 'must be an ISO-8601 time with a zone, e.g. 2026-03-01T00:00:00Z' });
  const to = input.to === undefined ? null : normalizeTimestamp(input.to);
  if (input.to !== undefined && to === null) problems.push({ field: 'to', message: 'must be an ISO-8601 time with a zone, e.g. 2026-04-01T00:00:00Z' });
  const resourceId = input.resource_id === undefined ? null : input.resource_id.trim();
  if (resourceId !== null && (resourceId.length === 0 || resourceId.length > 256)) problems.push({ field: 'resource_id', message: 'must be 1 to 256 characters' });
  if (resourceId === null) {
    if (input.from === undefined) problems.push({ field: 'from', message: 'is required for a time-range export (or give resource_id)' });
    if (input.to === undefined) problems.push({ field: 'to', message: 'is required for a time-range export (or give resource_id)' });
  }
  if (from && to && from >= to) problems.push({ field: 'to', message: 'must be later than from' });
  if (to && Date.parse(to) > now.getTime() + MAX_FUTURE_SKEW_MS) {
    problems.push({ field: 'to', message: 'lies in the future: an export covers events that exist; request the window once it has ended' });
  }
  if (problems.length) throw new AppError('VALIDATION_FAILED', 'Invalid audit export request.', { errors: problems });
  return { selection: { from, to, resource_id: resourceId }, format: format as ExportFormat };
}

/**
 * Queues an export: the export row and the control-plane step message that writes it are
 * committed together (transactional outbox), then the relay is kicked. A resource without any
 * event in the tenant's chain is not found (an id of another tenant included).
 */
export async function requestExport(services: Services, tenantId: string, input: ExportRequest, actor: string): Promise<ExportView> {
  const { selection, format } = validateExportRequest(input, services.clock.now());
  if (selection.resource_id !== null) {
    await flushTenantAudit(services, tenantId);
    const any = await listEvents(services.control, tenantId, { resource_id: selection.resource_id, limit: 1 });
    if (any.events.length === 0) throw new AppError('NOT_FOUND', `No audit events for resource ${selection.resource_id}.`);
  }
  const row = await services.control.transaction((tx) => insertExport(tx, services, { tenantId, selection, format, actor, scheduleId: null }));
  services.onOutboxWritten?.(CONTROL);
  return toView(row);
}

/** Writes the export row and its step message in the caller's control-plane transaction. */
export async function insertExport(
  tx: DbOrTx,
  services: Services,
  input: { tenantId: string; selection: StoredSelection; format: ExportFormat; actor: string; scheduleId: string | null },
): Promise<ExportRow> {
  const id = newId('exp');
  const [row] = await tx
    .insert(auditExports)
    .values({
      id,
      tenantId: input.tenantId,
      status: 'pending',
      format: input.format,
      selection: { ...input.selection },
      requestedBy: input.actor,
      scheduleId: input.scheduleId,
      createdAt: services.clock.now(),
    })
    .returning();
  await enqueueControlStep(tx, services.clock, {
    topic: AUDIT_EXPORT_TOPIC,
    dedupId: `audit-export:${id}`,
    tenantId: input.tenantId,
    // The AUDIT_EXPORTED event id is fixed now, so a redelivered message cannot chain it twice.
    payload: { export_id: id, event_id: newId('evt') },
  });
  return row;
}

export interface ExportMessage {
  tenant_id: string;
  export_id: string;
  event_id: string;
}

/**
 * The export step: streams the file to the tenant's bucket under `audit-exports/`, signs the
 * manifest with the platform's active key and stores it next to the file, then — in one
 * control-plane transaction — appends AUDIT_EXPORTED to the tenant's chain and marks the export
 * completed; finally queues the `audit.export_ready` webhook.
 *
 * Idempotent: a completed export is only announced again (the webhook is stored once per
 * endpoint); a crash before the commit rewrites the same objects. A suspended tenant's export
 * waits (retry); an invalid selection, a removed tenant or the last attempt records the failure.
 */
export async function runExport(services: Services, message: ExportMessage, ctx: StepContext): Promise<StepResult> {
  const row = await loadExport(services.control, message.tenant_id, message.export_id);
  if (!row) return { status: 'skipped', detail: 'no such export' };
  if (row.status === 'completed') {
    await announceExport(services, row);
    return { status: 'already_done' };
  }
  if (row.status === 'failed') return { status: 'skipped', detail: 'the export failed earlier' };

  const tenant = await findTenant(services, row.tenantId);
  if (!tenant || tenant.state === 'DEPROVISIONING' || tenant.state === 'DEPROVISIONED') {
    await markFailed(services, row, 'the tenant no longer exists');
    return { status: 'failed', detail: 'tenant removed' };
  }
  if (tenant.state !== 'ACTIVE') throw new RetryableStepError(`tenant ${row.tenantId} is ${tenant.state}; the export waits`, 60);

  await services.control.update(auditExports).set({ status: 'running' }).where(eq(auditExports.id, row.id));
  const format = row.format as ExportFormat;
  const selection = storedSelection(row);
  let completed: ExportRow;
  try {
    const afterSeq = row.scheduleId ? await previousFeedSeq(services, row) : undefined;
    await flushTenantAudit(services, row.tenantId);
    const plane = await services.planes.forTenant(row.tenantId);
    const exp = await openAuditExport(services.control, row.tenantId, { ...toLibrarySelection(selection), ...(afterSeq !== undefined ? { after_seq: afterSeq } : {}) }, {
      format, sha256: services.sha256, clock: services.clock, productVersion: FROSTBYTE_VERSION,
    });
    const keys = auditExportKeys(row.tenantId, row.id, format);
    await plane.store.put(keys.file, exp.body(), { contentType: EXPORT_CONTENT_TYPES[format] });
    const { kid, key } = await services.keys.active();
    const manifest = await exp.sign({ kid, privateKey: key });
    await plane.store.put(keys.manifest, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`), { contentType: 'application/json' });
    const actor = row.scheduleId ? 'system' : row.requestedBy;
    completed = await services.control.transaction(async (tx) => {
      await appendEvents(tx, row.tenantId, [{ ...auditExportedEvent(row.id, manifest, actor), event_id: message.event_id }], services.clock, { sha256: services.sha256 });
      const [updated] = await tx
        .update(auditExports)
        .set({
          status: 'completed', eventCount: manifest.event_count, fileSha256: manifest.file_sha256, fileKey: keys.file, manifestKey: keys.manifest,
          manifest: { ...manifest }, completedAt: services.clock.now(), error: null,
        })
        .where(eq(auditExports.id, row.id))
        .returning();
      return updated;
    });
  } catch (e) {
    const permanent = e instanceof AppError && e.code === 'VALIDATION_FAILED';
    if (permanent || ctx.attempt >= services.env.STEP_MAX_ATTEMPTS) {
      await markFailed(services, row, e instanceof Error ? e.message : String(e));
      return { status: 'failed', detail: permanent ? 'invalid selection' : 'attempts exhausted' };
    }
    throw e;
  }
  services.log.log('info', 'audit export written', { component: 'audit', tenant_id: row.tenantId, export_id: row.id, event_count: completed.eventCount });
  await announceExport(services, completed);
  return { status: 'done' };
}

/**
 * Where a scheduled export continues the schedule's feed: right after the last event of the
 * schedule's latest completed export, so consecutive files join seq to seq even when an event
 * reached the chain after the previous file was opened (and a failed run's window is covered by
 * the next one). Waits while an earlier export of the schedule is still being written.
 */
async function previousFeedSeq(services: Services, row: ExportRow): Promise<number | undefined> {
  const earlier = await services.control
    .select({ id: auditExports.id, status: auditExports.status, manifest: auditExports.manifest })
    .from(auditExports)
    .where(and(eq(auditExports.tenantId, row.tenantId), eq(auditExports.scheduleId, row.scheduleId as string), lt(auditExports.id, row.id)))
    .orderBy(desc(auditExports.id))
    .limit(20);
  if (earlier.some((e) => e.status === 'pending' || e.status === 'running')) {
    throw new RetryableStepError(`an earlier export of schedule ${row.scheduleId} is still being written`, 10);
  }
  for (const e of earlier) {
    const last = e.status === 'completed' ? e.manifest?.last_seq : undefined;
    if (typeof last === 'number') return last;
  }
  return undefined;
}

async function markFailed(services: Services, row: ExportRow, error: string) {
  await services.control
    .update(auditExports)
    .set({ status: 'failed', error: error.slice(0, 1000), completedAt: services.clock.now() })
    .where(eq(auditExports.id, row.id));
  services.log.log('error', 'audit export failed', { component: 'audit', tenant_id: row.tenantId, export_id: row.id, error: error.slice(0, 300) });
}

/** `audit.export_ready`: ids, counts, hashes and where to download; never event content. */
async function announceExport(services: Services, row: ExportRow) {
  const view = toView(row);
  const base = (services.env.PUBLIC_URL ?? `http://${services.env.HOST}:${services.env.PORT}`).replace(/\/$/, '');
  await notifyWebhooks(services, row.tenantId, {
    type: 'audit.export_ready',
    messageKey: `audit-export:${row.id}`,
    data: {
      export_id: row.id,
      status: view.status,
      format: view.format,
      from: view.from,
      to: view.to,
      resource_id: view.resource_id,
      schedule_id: view.schedule_id,
      event_count: view.event_count,
      file_sha256: view.file_sha256,
      first_seq: view.manifest?.first_seq ?? null,
      last_seq: view.manifest?.last_seq ?? null,
      kid: view.manifest?.kid ?? null,
      export_url: `${base}${view.links.self}`,
      file_url: `${base}${view.links.file}`,
      manifest_url: `${base}${view.links.manifest}`,
    },
  });
}

async function loadExport(db: DbOrTx, tenantId: string, exportId: string): Promise<ExportRow | null> {
  const rows = await db.select().from(auditExports).where(and(eq(auditExports.tenantId, tenantId), eq(auditExports.id, exportId))).limit(1);
  return rows[0] ?? null;
}

async function requireExport(services: Services, tenantId: string, exportId: string): Promise<ExportRow> {
  const row = await loadExport(services.control, tenantId, exportId);
  if (!row) throw new AppError('NOT_FOUND', `Audit export ${exportId} was not found.`);
  return row;
}

export async function getExport(services: Services, tenantId: string, exportId: string): Promise<ExportView> {
  return toView(await requireExport(services, tenantId, exportId));
}

export const MAX_EXPORT_PAGE = 200;

/** The tenant's exports, oldest first (ids are time-ordered), paged by the last export id seen. */
export async function listExports(
  services: Services,
  tenantId: string,
  query: { cursor?: string; limit?: number; status?: string } = {},
): Promise<{ exports: ExportView[]; next_cursor: string | null; has_more: boolean }> {
  const problems: FieldProblem[] = [];
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EXPORT_PAGE) problems.push({ field: 'limit', message: `must be an integer from 1 to ${MAX_EXPORT_PAGE}` });
  const statuses: AuditExportStatus[] = ['pending', 'running', 'completed', 'failed'];
  if (query.status !== undefined && !(statuses as string[]).includes(query.status)) problems.push({ field: 'status', message: `must be one of ${statuses.join(', ')}` });
  if (query.cursor !== undefined && !/^exp_[0-9a-f]{32}$/.test(query.cursor)) problems.push({ field: 'cursor', message: 'is not a cursor this API returned' });
  if (problems.length) throw new AppError('VALIDATION_FAILED', 'Invalid export listing.', { errors: problems });
  const where: SQL[] = [eq(auditExports.tenantId, tenantId)];
  if (query.cursor) where.push(gt(auditExports.id, query.cursor));
  if (query.status) where.push(eq(auditExports.status, query.status as AuditExportStatus));
  const rows = await services.control.select().from(auditExports).where(and(...where)).orderBy(asc(auditExports.id)).limit(limit + 1);
  const hasMore = rows.length > limit;
  const page = rows.slice(0, limit).map(toView);
  return { exports: page, has_more: hasMore, next_cursor: hasMore ? page[page.length - 1].export_id : null };
}

/** A completed export's file as a stream; 409 while it is still being written. */
export async function openExportFile(services: Services, tenantId: string, exportId: string) {
  const row = await requireCompleted(services, tenantId, exportId);
  const plane = await services.planes.forTenant(tenantId);
  const key = row.fileKey as string;
  const [body, head] = await Promise.all([plane.store.get(key), plane.store.head(key)]);
  if (!body) throw new AppError('NOT_FOUND', `The file of audit export ${exportId} is no longer stored.`);
  const format = row.format as ExportFormat;
  return {
    body,
    size: head?.size ?? null,
    contentType: EXPORT_CONTENT_TYPES[format],
    filename: `${tenantId}-${exportId}.${format === 'cef' ? 'cef' : 'jsonl'}`,
    sha256: row.fileSha256 as string,
  };
}

/** The signed manifest exactly as stored beside the file. */
export async function readExportManifest(services: Services, tenantId: string, exportId: string): Promise<{ bytes: Uint8Array; filename: string }> {
  const row = await requireCompleted(services, tenantId, exportId);
  const plane = await services.planes.forTenant(tenantId);
  const bytes = await plane.store.getBytes(row.manifestKey as string);
  if (!bytes) throw new AppError('NOT_FOUND', `The manifest of audit export ${exportId} is no longer stored.`);
  return { bytes, filename: `${tenantId}-${exportId}.manifest.json` };
}

async function requireCompleted(services: Services, tenantId: string, exportId: string): Promise<ExportRow> {
  const row = await requireExport(services, tenantId, exportId);
  if (row.status === 'failed') throw new AppError('CONFLICT', `Audit export ${exportId} failed: ${row.error ?? 'unknown error'}. Request a new one.`);
  if (row.status !== 'completed' || !row.fileKey || !row.manifestKey) {
    throw new AppError('CONFLICT', `Audit export ${exportId} is ${row.status}; poll GET …/exports/${exportId} until it is completed.`, { headers: { 'Retry-After': '2' } });
  }
  return row;
}

function storedSelection(row: ExportRow): StoredSelection {
  const s = row.selection;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return { from: str(s.from), to: str(s.to), resource_id: str(s.resource_id) };
}

function toLibrarySelection(s: StoredSelection): ExportSelection {
  return { ...(s.from ? { from: s.from } : {}), ...(s.to ? { to: s.to } : {}), ...(s.resource_id ? { resource_id: s.resource_id } : {}) };
}

export function exportPath(tenantId: string, exportId: string) {
  return `/api/v1/audit/${tenantId}/exports/${exportId}`;
}

function toView(row: ExportRow): ExportView {
  const s = storedSelection(row);
  const self = exportPath(row.tenantId, row.id);
  return {
    export_id: row.id,
    tenant_id: row.tenantId,
    status: row.status,
    format: row.format as ExportFormat,
    from: s.from,
    to: s.to,
    resource_id: s.resource_id,
    requested_by: row.requestedBy,
    schedule_id: row.scheduleId,
    created_at: row.createdAt.toISOString(),
    completed_at: row.completedAt ? row.completedAt.toISOString() : null,
    event_count: row.eventCount,
    file_sha256: row.fileSha256,
    // Stored from a SignedAuditManifest by runExport; the cast restores its type.
    manifest: (row.manifest as SignedAuditManifest | null) ?? null,
    error: row.error,
    links: { self, file: `${self}/file`, manifest: `${self}/manifest` },
  };
}
