import { and, asc, desc, eq, inArray, lt } from 'drizzle-orm';
import * as v from 'valibot';
import { AppError } from '../http/errors';
import { enqueueStep } from '../queue/outbox';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';
import { webhookAttemptMessage } from './enqueue';
import { requireEndpoint } from './endpoints';
import type { webhookAttempts, webhookDeliveries } from './schema';

export const DEFAULT_DELIVERY_PAGE = 50;
export const MAX_DELIVERY_PAGE = 200;

export const ListDeliveriesQuery = v.strictObject({
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, 'must be a whole number'), v.transform(Number), v.minValue(1, 'must be at least 1'), v.maxValue(MAX_DELIVERY_PAGE, `must be at most ${MAX_DELIVERY_PAGE}`)), String(DEFAULT_DELIVERY_PAGE)),
  /** `next_cursor` of the previous page: deliveries older than this one. */
  cursor: v.optional(v.pipe(v.string(), v.regex(/^dlv_[0-9a-f]{32}$/, 'must be a next_cursor from a previous page'))),
  status: v.optional(v.picklist(['pending', 'retrying', 'delivered', 'failed'], 'must be pending, retrying, delivered or failed')),
});
export type ListDeliveriesQuery = v.InferOutput<typeof ListDeliveriesQuery>;

type DeliveryRow = typeof webhookDeliveries.$inferSelect;
type AttemptRow = typeof webhookAttempts.$inferSelect;

function deliveryView(d: DeliveryRow, attempts: AttemptRow[]) {
  return {
    id: d.id,
    endpoint_id: d.endpointId,
    message_id: d.messageId,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.nextAttemptAt?.toISOString() ?? null,
    last_status_code: d.lastStatusCode,
    last_error: d.lastError,
    last_latency_ms: d.lastLatencyMs,
    created_at: d.createdAt.toISOString(),
    finished_at: d.finishedAt?.toISOString() ?? null,
    payload: d.payload,
    attempt_log: attempts.map((a) => ({
      attempt: a.attempt,
      trigger: a.trigger,
      at: a.createdAt.toISOString(),
      status_code: a.statusCode,
      latency_ms: a.latencyMs,
      error: a.error,
      response_body: a.responseBody,
    })),
  };
}
export type DeliveryView = ReturnType<typeof deliveryView>;

async function attemptsOf(plane: DataPlane, deliveryIds: string[]) {
  const { webhookAttempts: a } = plane.tables;
  const byDelivery = new Map<string, AttemptRow[]>();
  if (deliveryIds.length === 0) return byDelivery;
  const rows = await plane.db.select().from(a).where(inArray(a.deliveryId, deliveryIds)).orderBy(asc(a.deliveryId), asc(a.attempt));
  for (const r of rows) byDelivery.set(r.deliveryId, [...(byDelivery.get(r.deliveryId) ?? []), r]);
  return byDelivery;
}

/** The delivery log of one endpoint, newest first, with every attempt. */
export async function listDeliveries(plane: DataPlane, endpointId: string, query: ListDeliveriesQuery) {
  await requireEndpoint(plane, endpointId);
  const { webhookDeliveries: d } = plane.tables;
  const rows = await plane.db
    .select()
    .from(d)
    .where(and(eq(d.endpointId, endpointId), query.cursor ? lt(d.id, query.cursor) : undefined, query.status ? eq(d.status, query.status) : undefined))
    .orderBy(desc(d.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const attempts = await attemptsOf(plane, page.map((r) => r.id));
  const hasMore = rows.length > query.limit;
  return {
    deliveries: page.map((r) => deliveryView(r, attempts.get(r.id) ?? [])),
    next_cursor: hasMore ? page[page.length - 1].id : null,
    has_more: hasMore,
  };
}

async function requireDelivery(plane: DataPlane, endpointId: string, deliveryId: string): Promise<DeliveryRow> {
  const { webhookDeliveries: d } = plane.tables;
  const [row] = await plane.db.select().from(d).where(and(eq(d.id, deliveryId), eq(d.endpointId, endpointId))).limit(1);
  if (!row) throw new AppError('NOT_FOUND', `Delivery ${deliveryId} was not found.`);
  return row;
}

export async function getDelivery(plane: DataPlane, endpointId: string, deliveryId: string): Promise<DeliveryView> {
  await requireEndpoint(plane, endpointId);
  const row = await requireDelivery(plane, endpointId, deliveryId);
  return deliveryView(row, (await attemptsOf(plane, [row.id])).get(row.id) ?? []);
}

/**
 * Sends a delivery again now, with the same `webhook-id` (receivers deduplicate on it). If that
 * attempt fails, the retry schedule starts over from it. A delivery still retrying is simply
 * attempted now instead of at its next scheduled time.
 */
export async function redeliver(services: Services, plane: DataPlane, endpointId: string, deliveryId: string): Promise<DeliveryView> {
  const endpoint = await requireEndpoint(plane, endpointId);
  if (endpoint.status !== 'active') throw new AppError('CONFLICT', 'The endpoint is disabled; enable it before redelivering.');
  const { webhookDeliveries: d } = plane.tables;
  await plane.db.transaction(async (tx) => {
    const [row] = await tx.select().from(d).where(and(eq(d.id, deliveryId), eq(d.endpointId, endpointId))).for('update').limit(1);
    if (!row) throw new AppError('NOT_FOUND', `Delivery ${deliveryId} was not found.`);
    const now = services.clock.now();
    const attempt = row.attempts + 1;
    await tx.update(d).set({ status: row.status === 'retrying' ? 'retrying' : 'pending', nextAttemptAt: now, finishedAt: null }).where(eq(d.id, row.id));
    await enqueueStep(tx, plane.tables, services.clock, webhookAttemptMessage(plane.tenantId, row.id, { attempt, roundStart: attempt, trigger: 'manual', nonce: `manual-${crypto.randomUUID()}` }));
  });
  services.onOutboxWritten?.(plane.tenantId);
  return getDelivery(plane, endpointId, deliveryId);
}
