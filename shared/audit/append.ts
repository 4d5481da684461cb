import { and, eq, inArray, sql } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { systemClock, type Clock } from '../clock';
import { auditEvents, auditHeads } from '../db/schema/control';
import { rowsOf } from '../db/migrate';
import type { Db, DbOrTx, Tx } from '../db/types';
import type { Sha256Factory } from '../hash';
import { TENANT_ID_PATTERN } from '../ids';
import { hashEventBody, textHasher, type TextHasher } from './hashing';
import { AuditEventInvalidError, prepareEvent, type PreparedEvent } from './record';
import { GENESIS_HASH, type AuditEvent, type AuditEventInput } from './types';

export interface AppendOptions {
  /** Native SHA-256 (services.sha256); WebCrypto when absent. */
  sha256?: Sha256Factory;
}

export interface AppendResult {
  /** The events this call added to the chain, in seq order. */
  events: AuditEvent[];
  /** event_ids that were already in the tenant's chain (or repeated in the input) and were left alone. */
  skipped: string[];
}

/** Rows per statement: 12 parameters each, far below PostgreSQL's 65,535. */
const STATEMENT_CHUNK = 500;
/** Upper bound on events one group-commit transaction carries. */
const MAX_GROUP_EVENTS = 5000;

/** One caller's share of an append. */
interface Request {
  events: PreparedEvent[];
  /** Duplicates inside the caller's own input. */
  skipped: string[];
  /** event_ids the caller chose (only those can already be in the chain). */
  callerIds: string[];
  hash: TextHasher;
}

/**
 * Appends events to a tenant's log chain (DESIGN §6).
 *
 * The tenant's `audit_heads` row is locked (`SELECT … FOR UPDATE`) for the whole append, so
 * writers queue behind each other and the chain never forks; the primary key (tenant_id, seq)
 * would refuse a fork anyway. Each event gets the next gap-free `seq`, `prev_hash` = the hash of
 * the event before it (GENESIS_HASH for seq 1), `previous_event_id` = the latest event of the same
 * resource_id in this tenant, and `hash` = SHA-256 of its canonical JSON. Events whose event_id is
 * already in the tenant's chain are skipped, which makes replays (an outbox flush that crashed
 * before it marked its rows) harmless.
 *
 * With a database handle, calls that arrive for the same tenant while a transaction is running
 * are committed together in the next one (group commit): the head lock is held across a commit,
 * so one event per transaction would cap a tenant at a few hundred events per second. Each call
 * still resolves only after its own events committed; if a shared transaction fails, each call is
 * retried alone so one caller's failure is not another's.
 *
 * With a transaction handle (tenant lifecycle events next to the state they describe), the
 * append runs inside it as a savepoint and the head lock is held until the caller commits: keep
 * such transactions short. Expects READ COMMITTED (PostgreSQL's default).
 */
export async function appendEvents(
  db: DbOrTx,
  tenantId: string,
  events: AuditEventInput[],
  clock: Clock = systemClock,
  opts: AppendOptions = {},
): Promise<AppendResult> {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new AuditEventInvalidError(`invalid tenant id: ${tenantId}`);
  if (events.length === 0) return { events: [], skipped: [] };

  const request: Request = { events: [], skipped: [], callerIds: [], hash: textHasher(opts.sha256) };
  const seen = new Set<string>();
  for (const input of events) {
    const p = prepareEvent(input, clock);
    if (seen.has(p.event_id)) {
      request.skipped.push(p.event_id);
      continue;
    }
    seen.add(p.event_id);
    request.events.push(p);
    if (input.event_id !== undefined) request.callerIds.push(p.event_id);
  }

  if (db instanceof PgTransaction) {
    const [result] = await db.transaction((tx) => appendRequests(tx, tenantId, [request]));
    return result;
  }
  return enqueue(db, tenantId, request);
}

interface Waiting {
  request: Request;
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

/** Per database handle, per tenant: calls waiting for the next group-commit transaction. */
const groups = new WeakMap<object, Map<string, Waiting[]>>();

function enqueue(db: Db, tenantId: string, request: Request): Promise<AppendResult> {
  let byTenant = groups.get(db);
  if (!byTenant) {
    byTenant = new Map();
    groups.set(db, byTenant);
  }
  return new Promise<AppendResult>((resolve, reject) => {
    const queue = byTenant.get(tenantId);
    const waiting: Waiting = { request, resolve, reject };
    if (queue) queue.push(waiting);
    else {
      byTenant.set(tenantId, [waiting]);
      void drain(db, byTenant, tenantId);
    }
  });
}

/** Commits queued calls in groups until none is left; the queue's presence marks a running drain. */
async function drain(db: Db, byTenant: Map<string, Waiting[]>, tenantId: string): Promise<void> {
  const queue = byTenant.get(tenantId) ?? [];
  while (queue.length) {
    let count = 0;
    let take = 0;
    while (take < queue.length && (take === 0 || count + queue[take].request.events.length <= MAX_GROUP_EVENTS)) {
      count += queue[take].request.events.length;
      take++;
    }
    const group = queue.splice(0, take);
    try {
      const results = await db.transaction((tx) => appendRequests(tx, tenantId, group.map((w) => w.request)));
      group.forEach((w, i) => w.resolve(results[i]));
    } catch (err) {
      if (group.length === 1) group[0].reject(err);
      else {
        for (const w of group) {
          try {
            const [result] = await db.transaction((tx) => appendRequests(tx, tenantId, [w.request]));
            w.resolve(result);
          } catch (own) {
            w.reject(own);
          }
        }
      }
    }
    // Callers resumed by this commit often append again at once: one macrotask lets all of them
    // queue, so they share the next transaction instead of the first one starting it alone.
    if (queue.length === 0 && group.length > 1) await new Promise<void>((resolve) => setTimeout(resolve, 0));
  }
  byTenant.delete(tenantId);
}

/** The append itself, inside one transaction: one result per request, in order. */
async function appendRequests(tx: Tx, tenantId: string, requests: Request[]): Promise<AppendResult[]> {
  const head = await lockHead(tx, tenantId);

  // Both reads run after the lock is held (each statement sees what the previous holder
  // committed) and do not depend on each other, so they share a round trip (postgres.js pipelines
  // concurrent queries of a transaction). A replayed event's resource is looked up needlessly;
  // that costs nothing.
  const callerIds = [...new Set(requests.flatMap((r) => r.callerIds))];
  const resourceIds = [...new Set(requests.flatMap((r) => r.events.map((e) => e.resource_id)))];
  const [present, latest] = await Promise.all([eventIdsInChain(tx, tenantId, callerIds), latestEventByResource(tx, tenantId, resourceIds)]);

  const results: AppendResult[] = requests.map((r) => ({ events: [], skipped: [...r.skipped] }));

  let seq = head.lastSeq;
  let prevHash = head.lastHash;
  const appended: AuditEvent[] = [];
  const claimed = new Set<string>();
  for (let i = 0; i < requests.length; i++) {
    for (const p of requests[i].events) {
      // Two callers of one group may replay the same event: the first one appends it.
      if (present.has(p.event_id) || claimed.has(p.event_id)) {
        results[i].skipped.push(p.event_id);
        continue;
      }
      claimed.add(p.event_id);
      const body = {
        event_id: p.event_id,
        tenant_id: tenantId,
        seq: ++seq,
        event_type: p.event_type,
        timestamp: p.timestamp,
        actor: p.actor,
        resource_type: p.resource_type,
        resource_id: p.resource_id,
        details: p.details,
        previous_event_id: latest.get(p.resource_id) ?? null,
        prev_hash: prevHash,
      };
      const event: AuditEvent = { ...body, hash: await hashEventBody(body, requests[0].hash) };
      results[i].events.push(event);
      appended.push(event);
      prevHash = event.hash;
      latest.set(p.resource_id, p.event_id);
    }
  }
  if (appended.length === 0) return results;

  // The inserts and the head update are independent statements of one transaction: pipelined.
  const last = appended[appended.length - 1];
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < appended.length; i += STATEMENT_CHUNK) {
    writes.push(tx.insert(auditEvents).values(appended.slice(i, i + STATEMENT_CHUNK).map(toRow)).then(() => undefined));
  }
  writes.push(tx.update(auditHeads).set({ lastSeq: last.seq, lastHash: last.hash, lastEventId: last.event_id }).where(eq(auditHeads.tenantId, tenantId)).then(() => undefined));
  await Promise.all(writes);
  return results;
}

/** Locks the tenant's head row, creating it on first use. */
async function lockHead(tx: Tx, tenantId: string): Promise<{ lastSeq: number; lastHash: string }> {
  const select = () =>
    tx.select({ lastSeq: auditHeads.lastSeq, lastHash: auditHeads.lastHash }).from(auditHeads).where(eq(auditHeads.tenantId, tenantId)).for('update');
  let rows = await select();
  if (rows.length === 0) {
    // Two first writers (other processes): one INSERT wins, the other waits on the unique key and
    // then does nothing; both then queue on the row lock like any other writer.
    await tx.insert(auditHeads).values({ tenantId, lastSeq: 0, lastHash: GENESIS_HASH, lastEventId: null }).onConflictDoNothing();
    rows = await select();
  }
  if (rows.length === 0) throw new Error(`audit head of ${tenantId} could not be created`);
  return rows[0];
}

/** Which of `eventIds` the tenant's chain already holds. */
async function eventIdsInChain(tx: Tx, tenantId: string, eventIds: string[]): Promise<Set<string>> {
  const present = new Set<string>();
  for (let i = 0; i < eventIds.length; i += STATEMENT_CHUNK) {
    const rows = await tx
      .select({ eventId: auditEvents.eventId })
      .from(auditEvents)
      .where(and(eq(auditEvents.tenantId, tenantId), inArray(auditEvents.eventId, eventIds.slice(i, i + STATEMENT_CHUNK))));
    for (const r of rows) present.add(r.eventId);
  }
  return present;
}

/** Latest event_id per resource: one backward index probe each on (tenant_id, resource_id, seq). */
async function latestEventByResource(tx: Tx, tenantId: string, resourceIds: string[]): Promise<Map<string, string>> {
  const latest = new Map<string, string>();
  for (let i = 0; i < resourceIds.length; i += STATEMENT_CHUNK) {
    const values = sql.join(resourceIds.slice(i, i + STATEMENT_CHUNK).map((id) => sql`(${id})`), sql`, `);
    const result = await tx.execute(sql`
      SELECT r.id AS resource_id,
        (SELECT e.event_id FROM audit_events e
          WHERE e.tenant_id = ${tenantId} AND e.resource_id = r.id
          ORDER BY e.seq DESC LIMIT 1) AS event_id
      FROM (VALUES ${values}) AS r(id)`);
    for (const row of rowsOf<{ resource_id: string; event_id: string | null }>(result)) {
      if (row.event_id) latest.set(row.resource_id, row.event_id);
    }
  }
  return latest;
}

function toRow(e: AuditEvent): typeof auditEvents.$inferInsert {
  return {
    tenantId: e.tenant_id,
    seq: e.seq,
    eventId: e.event_id,
    eventType: e.event_type,
    timestamp: e.timestamp,
    actor: e.actor,
    resourceType: e.resource_type,
    resourceId: e.resource_id,
    details: e.details,
    previousEventId: e.previous_event_id,
    prevHash: e.prev_hash,
    hash: e.hash,
  };
}
