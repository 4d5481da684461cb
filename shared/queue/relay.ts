import { and, asc, eq, inArray, isNull, lte, sql } from 'drizzle-orm';
import { deadLetters } from '../db/schema/control';
import { controlOutbox } from '../db/schema/control-operations';
import type { TenantTables } from '../db/schema/tenant';
import type { Db } from '../db/types';
import { newId } from '../ids';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';

/** The step that starts a document's chain; due messages of later steps are published first. */
const STARTING_TOPIC = 'parse';

/** How long a claimed row stays with its relay: longer than the slowest step (parse timeout). */
const LEASE_MS = 5 * 60_000;

/** Rows a crashed process had claimed become due at once (embedded start-up: one process only). */
export async function releaseClaims(services: Services, plane: DataPlane) {
  const { outbox } = plane.tables;
  await plane.db.update(outbox).set({ availableAt: services.clock.now() }).where(isNull(outbox.sentAt));
}

/** The same for control-plane work (provisioning, exports). */
export async function releaseControlClaims(services: Services) {
  await services.control.update(controlOutbox).set({ availableAt: services.clock.now() }).where(isNull(controlOutbox.sentAt));
}

/** Retry delay after `attempt` failed deliveries: base × 4^(attempt−1), at most one hour. */
export function retryDelayMs(baseMs: number, attempt: number): number {
  return Math.min(baseMs * 4 ** Math.max(0, attempt - 1), 3_600_000);
}

/**
 * Publishes a tenant's due outbox rows, oldest first (parse messages after the rest). A row is marked sent once the queue has it
 * (QStash) or the step accepted it (local relay). Failures back off; after STEP_MAX_ATTEMPTS the
 * message goes to the dead-letter table. Safe to run concurrently: steps are idempotent and a
 * message keeps its dedup id.
 */
export async function relayOutbox(services: Services, plane: DataPlane, opts: RelayOptions = {}) {
  return relayFrom(services, { db: plane.db, outbox: plane.tables.outbox, tenantId: plane.tenantId }, opts);
}

/** Control-plane work (provisioning, audit exports) has an outbox of the same shape. */
export async function relayControlOutbox(services: Services, opts: RelayOptions = {}) {
  // Same columns as a tenant outbox; the cast lets one relay serve both.
  return relayFrom(services, { db: services.control, outbox: controlOutbox as unknown as TenantTables['outbox'], tenantId: null }, opts);
}

interface RelayOptions {
  limit?: number;
  leaseMs?: number;
}

async function relayFrom(
  services: Services,
  source: { db: Db; outbox: TenantTables['outbox']; tenantId: string | null },
  opts: RelayOptions,
): Promise<{ sent: number; retried: number; dead: number }> {
  const queue = services.queue;
  if (!queue) return { sent: 0, retried: 0, dead: 0 };
  const { outbox, db } = source;
  const now = services.clock.now();
  // Claim due rows by pushing their availability past the lease, so concurrent relays (a timer
  // sweep and a kick, or two processes) never deliver the same row at once. A relay that dies
  // mid-delivery leaves the row due again when the lease ends.
  const leaseUntil = new Date(now.getTime() + (opts.leaseMs ?? LEASE_MS));
  const due = db
    .select({ id: outbox.id })
    .from(outbox)
    .where(and(isNull(outbox.sentAt), lte(outbox.availableAt, now)))
    // Work that finishes a document goes before work that starts one: an index message does not
    // queue behind the batch's remaining parses, so indexing overlaps with parsing.
    .orderBy(sql`${outbox.topic} = ${STARTING_TOPIC}`, asc(outbox.availableAt), asc(outbox.createdAt))
    .limit(opts.limit ?? 50)
    .for('update', { skipLocked: true });
  const claimed = await db.update(outbox).set({ availableAt: leaseUntil }).where(inArray(outbox.id, due)).returning();
  claimed.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  const result = { sent: 0, retried: 0, dead: 0 };
  for (const row of claimed) {
    const attempt = row.attempts + 1;
    const outcome = await queue
      .publish({ topic: row.topic, dedupId: row.dedupId, tenantId: source.tenantId ?? String(row.payload.tenant_id ?? ''), payload: row.payload }, attempt)
      .catch((e: unknown) => ({ kind: 'retry' as const, error: e instanceof Error ? e.message : String(e) }));
    const at = services.clock.now();
    if (outcome.kind === 'done') {
      await db.update(outbox).set({ sentAt: at, attempts: attempt, lastError: null }).where(eq(outbox.id, row.id));
      result.sent++;
    } else if (attempt >= services.env.STEP_MAX_ATTEMPTS) {
      await services.control.insert(deadLetters).values({
        id: newId('msg'), tenantId: source.tenantId ?? String(row.payload.tenant_id ?? 'platform'), topic: row.topic, dedupId: row.dedupId, payload: row.payload,
        error: outcome.error.slice(0, 2000), attempts: attempt, createdAt: at,
      });
      await db.update(outbox).set({ sentAt: at, attempts: attempt, lastError: `dead-lettered: ${outcome.error}`.slice(0, 2000) }).where(eq(outbox.id, row.id));
      services.log.log('error', 'step message dead-lettered', { tenant_id: source.tenantId ?? undefined, component: 'relay', topic: row.topic, dedup_id: row.dedupId });
      result.dead++;
    } else {
      await db
        .update(outbox)
        .set({ attempts: attempt, lastError: outcome.error.slice(0, 2000), availableAt: new Date(at.getTime() + retryDelayMs(services.env.STEP_RETRY_BASE_MS, attempt)) })
        .where(eq(outbox.id, row.id));
      result.retried++;
    }
  }
  return result;
}

/** Rows still waiting, for metrics and readiness. */
export async function pendingOutbox(plane: DataPlane): Promise<number> {
  const rows = await plane.db.select({ id: plane.tables.outbox.id }).from(plane.tables.outbox).where(isNull(plane.tables.outbox.sentAt)).limit(10_000);
  return rows.length;
}
