import { and, asc, inArray, isNull } from 'drizzle-orm';
import { systemClock, type Clock } from '../clock';
import type { TenantTables } from '../db/schema/tenant';
import type { Db } from '../db/types';
import type { Sha256Factory } from '../hash';
import { appendEvents } from './append';
import type { AuditEventInput } from './types';

export interface FlushOptions {
  clock?: Clock;
  sha256?: Sha256Factory;
  /** Outbox rows appended per control-plane transaction. Default 500. */
  batchSize?: number;
}

export interface FlushResult {
  /** Events this call added to the chain. */
  appended: number;
  /** Pending rows that were already in the chain (another flusher, or a crash before marking). */
  skipped: number;
}

/**
 * Moves a tenant's recorded events from its data-plane `audit_outbox` into its log chain in the
 * control plane, in `ordinal` order, then marks them appended. Repeats until no pending row is left.
 *
 * Safe to run concurrently and repeatedly: appendEvents skips event_ids already in the chain, so
 * two flushers that read the same rows append them once, and a crash between the append (control
 * plane) and the marking (data plane) — two databases, so no shared transaction — is repaired by
 * the next flush. The three steps never nest, which matters on the embedded default where both
 * planes are the same PGlite instance and a nested query would wait on the open transaction.
 *
 * Rows become visible in commit order, not strictly in ordinal order: two transactions that
 * record events concurrently may be chained in either order. Events of one resource are recorded
 * by steps that run one after another, so a resource's own events keep their order.
 */
export async function flushAuditOutbox(controlDb: Db, planeDb: Db, tables: TenantTables, tenantId: string, opts: FlushOptions = {}): Promise<FlushResult> {
  const clock = opts.clock ?? systemClock;
  const batchSize = opts.batchSize ?? 500;
  const outbox = tables.auditOutbox;
  const result: FlushResult = { appended: 0, skipped: 0 };
  for (;;) {
    const pending = await planeDb.select().from(outbox).where(isNull(outbox.appendedAt)).orderBy(asc(outbox.ordinal)).limit(batchSize);
    if (pending.length === 0) return result;
    const events: AuditEventInput[] = pending.map((r) => ({
      event_id: r.eventId,
      // Stored by recordEvent after validation; the cast only restores the literal types.
      event_type: r.eventType as AuditEventInput['event_type'],
      timestamp: r.timestamp,
      actor: r.actor,
      resource_type: r.resourceType as AuditEventInput['resource_type'],
      resource_id: r.resourceId,
      details: r.details,
    }));
    const appended = await appendEvents(controlDb, tenantId, events, clock, { sha256: opts.sha256 });
    result.appended += appended.events.length;
    result.skipped += appended.skipped.length;
    await planeDb
      .update(outbox)
      .set({ appendedAt: clock.now() })
      .where(and(isNull(outbox.appendedAt), inArray(outbox.eventId, pending.map((r) => r.eventId))));
    if (pending.length < batchSize) return result;
  }
}
