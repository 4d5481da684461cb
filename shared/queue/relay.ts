import { and, asc, eq, isNull, lte } from 'drizzle-orm';
import { deadLetters } from '../db/schema/control';
import { newId } from '../ids';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';

/** Retry delay after `attempt` failed deliveries: base × 4^(attempt−1), at most one hour. */
export function retryDelayMs(baseMs: number, attempt: number): number {
  return Math.min(baseMs * 4 ** Math.max(0, attempt - 1), 3_600_000);
}

/**
 * Publishes a tenant's due outbox rows, oldest first. A row is marked sent once the queue has it
 * (QStash) or the step accepted it (local relay). Failures back off; after STEP_MAX_ATTEMPTS the
 * message goes to the dead-letter table. Safe to run concurrently: steps are idempotent and a
 * message keeps its dedup id.
 */
export async function relayOutbox(services: Services, plane: DataPlane, opts: { limit?: number } = {}): Promise<{ sent: number; retried: number; dead: number }> {
  const queue = services.queue;
  if (!queue) return { sent: 0, retried: 0, dead: 0 };
  const { outbox } = plane.tables;
  const now = services.clock.now();
  const due = await plane.db
    .select()
    .from(outbox)
    .where(and(isNull(outbox.sentAt), lte(outbox.availableAt, now)))
    .orderBy(asc(outbox.availableAt), asc(outbox.createdAt))
    .limit(opts.limit ?? 50);
  const result = { sent: 0, retried: 0, dead: 0 };
  for (const row of due) {
    const attempt = row.attempts + 1;
    const outcome = await queue
      .publish({ topic: row.topic, dedupId: row.dedupId, tenantId: plane.tenantId, payload: row.payload }, attempt)
      .catch((e: unknown) => ({ kind: 'retry' as const, error: e instanceof Error ? e.message : String(e) }));
    const at = services.clock.now();
    if (outcome.kind === 'done') {
      await plane.db.update(outbox).set({ sentAt: at, attempts: attempt, lastError: null }).where(eq(outbox.id, row.id));
      result.sent++;
    } else if (attempt >= services.env.STEP_MAX_ATTEMPTS) {
      await services.control.insert(deadLetters).values({
        id: newId('msg'), tenantId: plane.tenantId, topic: row.topic, dedupId: row.dedupId, payload: row.payload,
        error: outcome.error.slice(0, 2000), attempts: attempt, createdAt: at,
      });
      await plane.db.update(outbox).set({ sentAt: at, attempts: attempt, lastError: `dead-lettered: ${outcome.error}`.slice(0, 2000) }).where(eq(outbox.id, row.id));
      services.log.log('error', 'step message dead-lettered', { tenant_id: plane.tenantId, component: 'relay', topic: row.topic, dedup_id: row.dedupId });
      result.dead++;
    } else {
      await plane.db
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
