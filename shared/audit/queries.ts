import { and, asc, eq, gt, gte, lt, lte, max, min, type SQL } from 'drizzle-orm';
import { auditEvents, auditHeads } from '../db/schema/control';
import type { DbOrTx } from '../db/types';
import type { Sha256Factory } from '../hash';
import { AppError, type FieldProblem } from '../http/errors';
import { hashEventBody, normalizeTimestamp, sameContentHash, textHasher } from './hashing';
import { GENESIS_HASH, isAuditEventType, isAuditResourceType, type AuditEvent, type AuditEventType, type AuditResourceType } from './types';

type EventRow = typeof auditEvents.$inferSelect;

export function toAuditEvent(r: EventRow): AuditEvent {
  return {
    event_id: r.eventId,
    tenant_id: r.tenantId,
    seq: r.seq,
    event_type: r.eventType as AuditEventType,
    timestamp: r.timestamp,
    actor: r.actor,
    resource_type: r.resourceType as AuditResourceType,
    resource_id: r.resourceId,
    details: r.details,
    previous_event_id: r.previousEventId,
    prev_hash: r.prevHash,
    hash: r.hash,
  };
}

export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 100;

export interface ListEventsQuery {
  /** Inclusive lower bound on `timestamp` (ISO-8601). */
  from?: string;
  /** Exclusive upper bound on `timestamp` (ISO-8601). */
  to?: string;
  resource_id?: string;
  resource_type?: string;
  event_type?: string;
  /** `next_cursor` of the previous page. */
  cursor?: string;
  /** 1–1000, default 100. */
  limit?: number;
}

export interface EventPage {
  events: AuditEvent[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
  has_more: boolean;
}

/**
 * Lists a tenant's events in seq order (oldest first) with optional filters; paged by a cursor
 * (the last seq returned) so pages stay stable while new events are appended. Invalid input is
 * an AppError VALIDATION_FAILED naming each bad field.
 */
export async function listEvents(db: DbOrTx, tenantId: string, query: ListEventsQuery = {}): Promise<EventPage> {
  const problems: FieldProblem[] = [];
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) problems.push({ field: 'limit', message: `must be an integer from 1 to ${MAX_PAGE_SIZE}` });
  const from = query.from === undefined ? undefined : normalizeTimestamp(query.from);
  if (from === null) problems.push({ field: 'from', message: 'must be an ISO-8601 time' });
  const to = query.to === undefined ? undefined : normalizeTimestamp(query.to);
  if (to === null) problems.push({ field: 'to', message: 'must be an ISO-8601 time' });
  if (query.event_type !== undefined && !isAuditEventType(query.event_type)) problems.push({ field: 'event_type', message: 'unknown event type' });
  if (query.resource_type !== undefined && !isAuditResourceType(query.resource_type)) problems.push({ field: 'resource_type', message: 'unknown resource type' });
  const after = query.cursor === undefined ? 0 : parseCursor(query.cursor);
  if (after === null) problems.push({ field: 'cursor', message: 'is not a cursor this API returned' });
  if (problems.length) throw new AppError('VALIDATION_FAILED', 'Invalid audit event query.', { errors: problems });

  const where: SQL[] = [eq(auditEvents.tenantId, tenantId), gt(auditEvents.seq, after ?? 0)];
  if (from) where.push(gte(auditEvents.timestamp, from));
  if (to) where.push(lt(auditEvents.timestamp, to));
  if (query.resource_id !== undefined) where.push(eq(auditEvents.resourceId, query.resource_id));
  if (query.resource_type !== undefined) where.push(eq(auditEvents.resourceType, query.resource_type));
  if (query.event_type !== undefined) where.push(eq(auditEvents.eventType, query.event_type));
  const rows = await db.select().from(auditEvents).where(and(...where)).orderBy(asc(auditEvents.seq)).limit(limit + 1);
  const hasMore = rows.length > limit;
  const events = rows.slice(0, limit).map(toAuditEvent);
  return { events, has_more: hasMore, next_cursor: hasMore ? String(events[events.length - 1].seq) : null };
}

function parseCursor(cursor: string): number | null {
  if (!/^\d{1,15}$/.test(cursor)) return null;
  return Number(cursor);
}

/** One event of the tenant, or null (another tenant's event id is simply not found). */
export async function getEvent(db: DbOrTx, tenantId: string, eventId: string): Promise<AuditEvent | null> {
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), eq(auditEvents.eventId, eventId)))
    .limit(1);
  return rows[0] ? toAuditEvent(rows[0]) : null;
}

export type ProvenanceBreakReason = 'HASH_MISMATCH' | 'PREVIOUS_EVENT_MISMATCH' | 'INPUT_HASH_MISMATCH';

export interface ProvenanceChain {
  tenant_id: string;
  resource_id: string;
  /** resource_type of the first event. */
  resource_type: AuditResourceType;
  /** Events of the resource, oldest first. */
  events: AuditEvent[];
  length: number;
  /** More than `max_events` events exist; only the first ones were returned and checked. */
  truncated: boolean;
  valid: boolean;
  break: null | {
    /** 0-based index into `events`. */
    position: number;
    seq: number;
    event_id: string;
    reason: ProvenanceBreakReason;
    message: string;
    expected?: string | null;
    actual?: string | null;
  };
}

/**
 * The provenance chain of one resource (DESIGN §6): its events in order, checked link by link —
 * each event's own hash, `previous_event_id` = the event before it (null for the first), and
 * `details.input_hash` = the `output_hash` of the nearest earlier step that has one (when both are
 * present; a step without an output, such as a failed attempt, does not end the comparison).
 * Returns null when the tenant has no event for the resource.
 */
export async function getProvenanceChain(
  db: DbOrTx,
  tenantId: string,
  resourceId: string,
  opts: { sha256?: Sha256Factory; max_events?: number } = {},
): Promise<ProvenanceChain | null> {
  const maxEvents = opts.max_events ?? 10_000;
  const events: AuditEvent[] = [];
  let after = 0;
  let truncated = false;
  for (;;) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, tenantId), eq(auditEvents.resourceId, resourceId), gt(auditEvents.seq, after)))
      .orderBy(asc(auditEvents.seq))
      .limit(MAX_PAGE_SIZE);
    for (const r of rows) {
      if (events.length === maxEvents) {
        truncated = true;
        break;
      }
      events.push(toAuditEvent(r));
    }
    if (truncated || rows.length < MAX_PAGE_SIZE) break;
    after = rows[rows.length - 1].seq;
  }
  if (events.length === 0) return null;

  const hash = textHasher(opts.sha256);
  const chain: ProvenanceChain = {
    tenant_id: tenantId,
    resource_id: resourceId,
    resource_type: events[0].resource_type,
    events,
    length: events.length,
    truncated,
    valid: true,
    break: null,
  };
  let lastOutput: string | null = null;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const fail = (reason: ProvenanceBreakReason, message: string, expected?: string | null, actual?: string | null) => {
      chain.valid = false;
      chain.break = { position: i, seq: e.seq, event_id: e.event_id, reason, message, ...(expected !== undefined ? { expected, actual } : {}) };
    };
    const computed = await hashEventBody(e, hash);
    if (computed !== e.hash) {
      fail('HASH_MISMATCH', `event ${e.event_id} (seq ${e.seq}) does not match its hash: it was altered after it was chained`, e.hash, computed);
      break;
    }
    const expectedPrevious = i === 0 ? null : events[i - 1].event_id;
    if (e.previous_event_id !== expectedPrevious) {
      fail('PREVIOUS_EVENT_MISMATCH', `event ${e.event_id} links to ${e.previous_event_id ?? 'nothing'} instead of ${expectedPrevious ?? 'nothing'}`, expectedPrevious, e.previous_event_id);
      break;
    }
    const input = typeof e.details.input_hash === 'string' ? e.details.input_hash : null;
    if (input !== null && lastOutput !== null && !sameContentHash(input, lastOutput)) {
      fail('INPUT_HASH_MISMATCH', `${e.event_type} (seq ${e.seq}) consumed ${input} but the step before it produced ${lastOutput}`, lastOutput, input);
      break;
    }
    if (typeof e.details.output_hash === 'string') lastOutput = e.details.output_hash;
  }
  return chain;
}

export interface SeqRange {
  /** Inclusive. */
  first: number;
  /** Inclusive. */
  last: number;
}

export interface ChainHead {
  last_seq: number;
  last_hash: string;
}

export async function readHead(db: DbOrTx, tenantId: string): Promise<ChainHead> {
  const rows = await db.select().from(auditHeads).where(eq(auditHeads.tenantId, tenantId)).limit(1);
  return rows[0] ? { last_seq: rows[0].lastSeq, last_hash: rows[0].lastHash } : { last_seq: 0, last_hash: GENESIS_HASH };
}

/**
 * The contiguous stretch of the chain that covers a time range: from the first event with
 * timestamp ≥ `from` to the last with timestamp < `to` (either end open when absent, bounded by
 * `head`). Events recorded in a data plane are chained when the outbox is flushed, so a few
 * events near the edges may carry a timestamp just outside the range; they are included so the
 * stretch has no gap. Null when no event falls in the range.
 */
export async function resolveSeqRange(db: DbOrTx, tenantId: string, range: { from?: string | null; to?: string | null }, head: ChainHead): Promise<SeqRange | null> {
  if (head.last_seq === 0) return null;
  let first = 1;
  let last = head.last_seq;
  if (range.from) {
    const rows = await db.select({ v: min(auditEvents.seq) }).from(auditEvents).where(and(eq(auditEvents.tenantId, tenantId), gte(auditEvents.timestamp, range.from), lte(auditEvents.seq, last)));
    if (rows[0]?.v == null) return null;
    first = Number(rows[0].v);
  }
  if (range.to) {
    const rows = await db.select({ v: max(auditEvents.seq) }).from(auditEvents).where(and(eq(auditEvents.tenantId, tenantId), lt(auditEvents.timestamp, range.to), lte(auditEvents.seq, last)));
    if (rows[0]?.v == null) return null;
    last = Number(rows[0].v);
  }
  return first <= last ? { first, last } : null;
}

export type LogChainBreakReason = 'SEQ_GAP' | 'PREV_HASH_MISMATCH' | 'HASH_MISMATCH' | 'HEAD_MISMATCH';

export type LogChainVerification =
  | { valid: true; tenant_id: string; checked: number; first_seq: number | null; last_seq: number | null; last_hash: string | null }
  | { valid: false; tenant_id: string; checked: number; break: { seq: number; event_id: string | null; reason: LogChainBreakReason; message: string } };

export interface VerifyLogChainRange {
  /** ISO-8601; the stretch starts at the first event at or after it. */
  from?: string;
  /** ISO-8601; the stretch ends at the last event before it. */
  to?: string;
  from_seq?: number;
  to_seq?: number;
}

/**
 * Checks the tenant's log chain (DESIGN §6), whole or a stretch of it: seq continuity, each
 * prev_hash = the hash of the event before (GENESIS_HASH before seq 1; the stored event before the
 * stretch otherwise), each hash recomputed from the event, and — when the stretch reaches the
 * head — the head row agreeing with the last event. Reports the first bad seq and why.
 * Reads 1,000 events per query, so it is bounded per statement even for millions of events.
 */
export async function verifyLogChain(db: DbOrTx, tenantId: string, range: VerifyLogChainRange = {}, opts: { sha256?: Sha256Factory } = {}): Promise<LogChainVerification> {
  const problems: FieldProblem[] = [];
  const from = range.from === undefined ? undefined : normalizeTimestamp(range.from);
  if (from === null) problems.push({ field: 'from', message: 'must be an ISO-8601 time' });
  const to = range.to === undefined ? undefined : normalizeTimestamp(range.to);
  if (to === null) problems.push({ field: 'to', message: 'must be an ISO-8601 time' });
  for (const f of ['from_seq', 'to_seq'] as const) {
    const v = range[f];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) problems.push({ field: f, message: 'must be a positive integer' });
  }
  if (problems.length) throw new AppError('VALIDATION_FAILED', 'Invalid chain verification range.', { errors: problems });

  const head = await readHead(db, tenantId);
  const resolved = await resolveSeqRange(db, tenantId, { from, to }, head);
  const first = Math.max(range.from_seq ?? 1, resolved?.first ?? 1);
  const last = Math.min(range.to_seq ?? head.last_seq, resolved?.last ?? head.last_seq);
  if (!resolved || first > last) return { valid: true, tenant_id: tenantId, checked: 0, first_seq: null, last_seq: null, last_hash: null };

  const hash = textHasher(opts.sha256);
  let checked = 0;
  const broken = (seq: number, eventId: string | null, reason: LogChainBreakReason, message: string): LogChainVerification => ({
    valid: false,
    tenant_id: tenantId,
    checked,
    break: { seq, event_id: eventId, reason, message },
  });

  let prevHash = GENESIS_HASH;
  if (first > 1) {
    const before = await db.select({ hash: auditEvents.hash }).from(auditEvents).where(and(eq(auditEvents.tenantId, tenantId), eq(auditEvents.seq, first - 1))).limit(1);
    if (!before[0]) return broken(first - 1, null, 'SEQ_GAP', `event seq ${first - 1} is missing`);
    prevHash = before[0].hash;
  }
  let expected = first;
  let lastHash = prevHash;
  while (expected <= last) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, tenantId), gte(auditEvents.seq, expected), lte(auditEvents.seq, last)))
      .orderBy(asc(auditEvents.seq))
      .limit(MAX_PAGE_SIZE);
    if (rows.length === 0) return broken(expected, null, 'SEQ_GAP', `event seq ${expected} is missing`);
    for (const r of rows) {
      const e = toAuditEvent(r);
      if (e.seq !== expected) return broken(expected, null, 'SEQ_GAP', `event seq ${expected} is missing (next is ${e.seq})`);
      if (e.prev_hash !== prevHash) return broken(e.seq, e.event_id, 'PREV_HASH_MISMATCH', `prev_hash of seq ${e.seq} is not the hash of seq ${e.seq - 1}`);
      if ((await hashEventBody(e, hash)) !== e.hash) return broken(e.seq, e.event_id, 'HASH_MISMATCH', `seq ${e.seq} does not match its hash: the event was altered after it was chained`);
      prevHash = e.hash;
      lastHash = e.hash;
      expected++;
      checked++;
    }
  }
  if (last === head.last_seq && lastHash !== head.last_hash) {
    return broken(last, null, 'HEAD_MISMATCH', `the chain head records a different hash for seq ${last}`);
  }
  return { valid: true, tenant_id: tenantId, checked, first_seq: first, last_seq: last, last_hash: lastHash };
}
