import { index, integer, jsonb, pgSchema, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { TEMPLATE_SCHEMA } from '../db/schema/template';

/** A tenant's webhook endpoints and deliveries, in the tenant's data plane. */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export type WebhookEndpointStatus = 'active' | 'disabled';
export type WebhookDeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'failed';
export type WebhookAttemptTrigger = 'scheduled' | 'manual';

export function buildWebhookTables(schemaName: string) {
  const s = pgSchema(schemaName);

  const webhookEndpoints = s.table('webhook_endpoints', {
    id: text('id').primaryKey(),
    url: text('url').notNull(),
    description: text('description'),
    events: text('events').array().notNull(),
    /** Standard Webhooks secret (`whsec_…`); returned once at creation and rotation. */
    secret: text('secret').notNull(),
    /** The secret before the last rotation, still signing until `previous_secret_expires_at`. */
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: ts('previous_secret_expires_at'),
    status: text('status').$type<WebhookEndpointStatus>().notNull(),
    disabledReason: text('disabled_reason'),
    /** First failure of the current failing streak; cleared by a success. */
    failingSince: ts('failing_since'),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  });

  /** One message to one endpoint; (endpoint, message id) is unique, so an event is sent once per endpoint. */
  const webhookDeliveries = s.table(
    'webhook_deliveries',
    {
      id: text('id').primaryKey(),
      endpointId: text('endpoint_id').notNull(),
      /** `webhook-id`: stable across retries so receivers can deduplicate. */
      messageId: text('message_id').notNull(),
      eventType: text('event_type').notNull(),
      payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
      status: text('status').$type<WebhookDeliveryStatus>().notNull(),
      attempts: integer('attempts').notNull().default(0),
      nextAttemptAt: ts('next_attempt_at'),
      lastStatusCode: integer('last_status_code'),
      lastError: text('last_error'),
      lastLatencyMs: integer('last_latency_ms'),
      createdAt: ts('created_at').notNull(),
      finishedAt: ts('finished_at'),
    },
    (t) => [uniqueIndex('webhook_deliveries_once').on(t.endpointId, t.messageId), index('webhook_deliveries_endpoint').on(t.endpointId, t.createdAt)],
  );

  /** Every attempt of a delivery: the delivery log vendors read. */
  const webhookAttempts = s.table(
    'webhook_attempts',
    {
      id: text('id').primaryKey(),
      deliveryId: text('delivery_id').notNull(),
      attempt: integer('attempt').notNull(),
      statusCode: integer('status_code'),
      latencyMs: integer('latency_ms').notNull(),
      error: text('error'),
      /** First bytes of the receiver's answer (at most 4 KiB, decoded as UTF-8), for the delivery log. */
      responseBody: text('response_body'),
      /** `scheduled` (the retry schedule) or `manual` (an operator or the tenant asked to redeliver). */
      trigger: text('trigger').$type<WebhookAttemptTrigger>().notNull().default('scheduled'),
      createdAt: ts('created_at').notNull(),
    },
    (t) => [index('webhook_attempts_delivery').on(t.deliveryId, t.attempt)],
  );

  return { webhookEndpoints, webhookDeliveries, webhookAttempts };
}

export type WebhookTables = ReturnType<typeof buildWebhookTables>;
const template = buildWebhookTables(TEMPLATE_SCHEMA);
export const { webhookEndpoints, webhookDeliveries, webhookAttempts } = template;
