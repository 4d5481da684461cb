import { and, eq, inArray, sql } from 'drizzle-orm';
import * as v from 'valibot';
import { recordEvent } from '../audit/record';
import { enqueueStep } from '../queue/outbox';
import type { StepContext, StepDefinition, StepResult } from '../queue/step';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';
import { checkDestination, destinationPolicy, DestinationRefusedError } from './destination';
import { webhookAttemptMessage, WEBHOOK_TOPIC } from './enqueue';
import { fetchWebhookSender } from './fetch-sender';
import type { WebhookResponse } from './ports';
import type { WebhookDeliveryStatus, webhookDeliveries as webhookDeliveriesTable } from './schema';
import { signWebhook } from './secrets';

/** At most this much of a receiver's answer is read and kept in the delivery log (bytes). */
export const MAX_RESPONSE_BYTES = 4096;
/** An endpoint whose deliveries have all failed for this long is disabled (5 days, in ms). */
export const DISABLE_AFTER_MS = 5 * 24 * 3_600_000;
const USER_AGENT = 'Frostbyte-Webhooks/1';

export const WebhookAttemptPayload = v.object({
  tenant_id: v.string(),
  delivery_id: v.pipe(v.string(), v.startsWith('dlv_')),
  /** The attempt this message performs (1-based over the delivery's whole life). */
  attempt: v.pipe(v.number(), v.integer(), v.minValue(1)),
  /** The attempt that began the current retry round (1, or the first attempt after a redelivery). */
  round_start: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
  trigger: v.optional(v.picklist(['scheduled', 'manual']), 'scheduled'),
});
export type WebhookAttemptPayload = v.InferOutput<typeof WebhookAttemptPayload>;

/**
 * One delivery attempt. The message is acted on only when it is the delivery's next attempt
 * (`attempts + 1`) and the delivery is still pending or retrying; anything else is a stale or
 * duplicate message and is acknowledged without sending. The receiver's answer never makes this
 * step fail: a failed attempt schedules the next one itself (growing delays, WEBHOOK_RETRY_SCHEDULE)
 * and answers 2xx, so the queue's own short retries do not fight the schedule. Only database
 * trouble throws (the queue retries; the attempt is sent again with the same `webhook-id`).
 */
export async function runWebhookStep(services: Services, plane: DataPlane, p: WebhookAttemptPayload, _ctx: StepContext): Promise<StepResult> {
  const { webhookDeliveries, webhookEndpoints } = plane.tables;
  const [delivery] = await plane.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, p.delivery_id)).limit(1);
  if (!delivery) return { status: 'skipped', detail: 'delivery not found (endpoint deleted)' };
  if ((delivery.status !== 'pending' && delivery.status !== 'retrying') || delivery.attempts + 1 !== p.attempt) {
    return { status: 'already_done', detail: `attempt ${p.attempt} is stale (delivery ${delivery.status} after ${delivery.attempts} attempts)` };
  }
  const [endpoint] = await plane.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, delivery.endpointId)).limit(1);
  if (!endpoint) return { status: 'skipped', detail: 'endpoint deleted' };
  if (endpoint.status !== 'active') return finishWithoutSending(services, plane, delivery, p, 'ENDPOINT_DISABLED', 'The endpoint is disabled; enable it and redeliver.');

  const sentAt = services.clock.now();
  const secrets = [endpoint.secret];
  if (endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > sentAt) secrets.push(endpoint.previousSecret);
  // jsonb keeps its own key order; the envelope is sent in the documented one.
  const { type, timestamp, data } = delivery.payload;
  const body = JSON.stringify({ type, timestamp, data });
  let response: WebhookResponse;
  try {
    const vetted = await checkDestination(endpoint.url, destinationPolicy(services.env), services.webhooks?.resolveHost);
    const sender = services.webhooks?.sender ?? fetchWebhookSender();
    response = await sender.send({
      url: vetted.url.href,
      headers: {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        'webhook-id': delivery.messageId,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': signWebhook(secrets, delivery.messageId, sentAt, body),
      },
      body,
      timeoutMs: services.env.WEBHOOK_TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      addresses: vetted.addresses ?? undefined,
    });
  } catch (e) {
    if (!(e instanceof DestinationRefusedError)) throw e;
    response = { statusCode: null, latencyMs: 0, body: '', location: null, error: `destination refused: ${e.message}` };
  }
  return recordAttempt(services, plane, { delivery, endpointId: endpoint.id, payload: p, response });
}

type Delivery = typeof webhookDeliveriesTable.$inferSelect;

function attemptError(r: WebhookResponse): string | null {
  if (r.error) return r.error;
  if (r.statusCode === null) return 'no answer';
  if (r.statusCode >= 200 && r.statusCode < 300) return null;
  if (r.statusCode >= 300 && r.statusCode < 400) return `redirect ${r.statusCode}${r.location ? ` to ${r.location}` : ''} not followed; point the endpoint at the final URL`;
  return `HTTP ${r.statusCode}`;
}

async function recordAttempt(
  services: Services,
  plane: DataPlane,
  input: { delivery: Delivery; endpointId: string; payload: WebhookAttemptPayload; response: WebhookResponse },
): Promise<StepResult> {
  const { delivery, payload: p, response: r } = input;
  const { webhookDeliveries, webhookEndpoints, webhookAttempts } = plane.tables;
  const error = attemptError(r);
  const ok = error === null;
  const schedule = services.env.WEBHOOK_RETRY_SCHEDULE;
  const step = p.attempt - p.round_start;

  const result = await plane.db.transaction(async (tx): Promise<{ outcome: WebhookDeliveryStatus; disabledReason: string | null } | null> => {
    const at = services.clock.now();
    let outcome: WebhookDeliveryStatus = 'delivered';
    let disabledReason: string | null = null;
    const [endpoint] = await tx.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, input.endpointId)).for('update').limit(1);
    let delayMs: number | null = null;
    if (!ok) {
      const failingSince = endpoint?.failingSince ?? at;
      if (endpoint?.status === 'active' && at.getTime() - failingSince.getTime() >= DISABLE_AFTER_MS) {
        disabledReason = `Disabled automatically on ${at.toISOString()}: every delivery failed since ${failingSince.toISOString()} (5 days). Last error: ${error}`.slice(0, 1000);
      }
      if (!disabledReason && step < schedule.length) delayMs = schedule[step];
      outcome = delayMs === null ? 'failed' : 'retrying';
    }
    const updated = await tx
      .update(webhookDeliveries)
      .set({
        attempts: p.attempt, status: outcome, lastStatusCode: r.statusCode, lastError: error, lastLatencyMs: r.latencyMs,
        nextAttemptAt: delayMs === null ? null : new Date(at.getTime() + delayMs),
        finishedAt: outcome === 'retrying' ? null : at,
      })
      .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.attempts, p.attempt - 1), inArray(webhookDeliveries.status, ['pending', 'retrying'])))
      .returning({ id: webhookDeliveries.id });
    // Another copy of this message recorded the attempt first (the queue delivered it twice).
    if (updated.length === 0) return null;
    await tx.insert(webhookAttempts).values({
      id: `${delivery.id}_${p.attempt}`, deliveryId: delivery.id, attempt: p.attempt, statusCode: r.statusCode, latencyMs: r.latencyMs,
      error, responseBody: r.body ? r.body : null, trigger: p.attempt === p.round_start ? p.trigger : 'scheduled', createdAt: at,
    }).onConflictDoNothing();
    if (endpoint) {
      await tx
        .update(webhookEndpoints)
        .set(ok
          ? { failingSince: null }
          : disabledReason
            ? { failingSince: endpoint.failingSince ?? at, status: 'disabled', disabledReason, updatedAt: at }
            : { failingSince: sql`coalesce(${webhookEndpoints.failingSince}, ${at.toISOString()}::timestamptz)` })
        .where(eq(webhookEndpoints.id, endpoint.id));
    }
    if (delayMs !== null) {
      await enqueueStep(tx, plane.tables, services.clock, webhookAttemptMessage(plane.tenantId, delivery.id, { attempt: p.attempt + 1, roundStart: p.round_start, trigger: 'scheduled' }), { delayMs });
    } else {
      await recordEvent(tx, plane.tables, {
        event_type: ok ? 'WEBHOOK_DELIVERED' : 'WEBHOOK_FAILED', actor: 'system', resource_type: 'webhook', resource_id: delivery.id,
        details: {
          component: 'webhooks', endpoint_id: delivery.endpointId, message_id: delivery.messageId, event_type: delivery.eventType,
          ...subjectOf(delivery), attempts: p.attempt, status_code: r.statusCode, status: outcome,
          ...(ok ? {} : { reason_code: disabledReason ? 'ENDPOINT_DISABLED' : 'RETRIES_EXHAUSTED', error: error?.slice(0, 300) }),
        },
      }, services.clock);
    }
    if (disabledReason) {
      await recordEvent(tx, plane.tables, {
        event_type: 'WEBHOOK_FAILED', actor: 'system', resource_type: 'webhook', resource_id: delivery.endpointId,
        details: { component: 'webhooks', endpoint_id: delivery.endpointId, reason_code: 'ENDPOINT_DISABLED', status: 'disabled', failing_since: (endpoint?.failingSince ?? at).toISOString() },
      }, services.clock);
    }
    return { outcome, disabledReason };
  });

  if (!result) return { status: 'already_done', detail: 'attempt recorded by another copy of this message' };
  const { outcome, disabledReason } = result;
  if (outcome === 'retrying') services.onOutboxWritten?.(plane.tenantId);
  else services.onAuditRecorded?.(plane.tenantId);
  if (disabledReason) {
    services.log.log('warn', 'webhook endpoint disabled after failing for 5 days', { tenant_id: plane.tenantId, component: 'webhooks', endpoint_id: delivery.endpointId });
  }
  return { status: ok ? 'done' : outcome === 'retrying' ? 'done' : 'failed', detail: ok ? `delivered (HTTP ${r.statusCode})` : `${outcome}: ${error}` };
}

/** The endpoint can no longer receive (disabled): the delivery fails without an attempt. */
async function finishWithoutSending(services: Services, plane: DataPlane, delivery: Delivery, p: WebhookAttemptPayload, code: string, message: string): Promise<StepResult> {
  const { webhookDeliveries } = plane.tables;
  const done = await plane.db.transaction(async (tx) => {
    const at = services.clock.now();
    const updated = await tx
      .update(webhookDeliveries)
      .set({ status: 'failed', lastError: message, nextAttemptAt: null, finishedAt: at })
      .where(and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.attempts, p.attempt - 1), inArray(webhookDeliveries.status, ['pending', 'retrying'])))
      .returning({ id: webhookDeliveries.id });
    if (updated.length === 0) return false;
    await recordEvent(tx, plane.tables, {
      event_type: 'WEBHOOK_FAILED', actor: 'system', resource_type: 'webhook', resource_id: delivery.id,
      details: { component: 'webhooks', endpoint_id: delivery.endpointId, message_id: delivery.messageId, event_type: delivery.eventType, ...subjectOf(delivery), attempts: delivery.attempts, status: 'failed', reason_code: code },
    }, services.clock);
    return true;
  });
  if (done) services.onAuditRecorded?.(plane.tenantId);
  return { status: 'failed', detail: code };
}

/** Ids that tie an outcome to what it announced (batch, document, export); never content. */
function subjectOf(delivery: Delivery): Record<string, string> {
  const data = (delivery.payload.data ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of ['batch_id', 'doc_id', 'file_id', 'export_id']) if (typeof data[key] === 'string') out[key] = data[key] as string;
  return out;
}

export const webhookStep: StepDefinition<WebhookAttemptPayload> = { topic: WEBHOOK_TOPIC, schema: WebhookAttemptPayload, run: runWebhookStep };
