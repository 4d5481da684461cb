import { and, eq, inArray } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import type { Clock } from '../clock';
import type { BatchStatus, FileStatus, TenantTables } from '../db/schema/tenant';
import type { DbOrTx } from '../db/types';
import { sha256Hex } from '../hash';
import { newId, TENANT_ID_PATTERN } from '../ids';
import { enqueueStep } from '../queue/outbox';
import type { Services } from '../services';
import type { WebhookEventType, WebhookMessage } from './events';
import type { DocumentFailure } from './ports';

/** Topic of the delivery step (`/steps/webhook`). */
export const WEBHOOK_TOPIC = 'webhook';

/** Files of a finished batch that did not make it, as listed in batch payloads. */
const FAILED_STATUSES: FileStatus[] = ['rejected', 'quarantined', 'parse_failed', 'index_failed'];
/** At most this many failed files are listed in one payload (`failed_files_truncated` says when more failed). */
const MAX_FAILED_FILES = 1000;

/**
 * Outbox message for one attempt. Each attempt is its own message (dedup id per attempt); a manual
 * redelivery adds a nonce so it is not taken for the scheduled message of the same attempt.
 * `round_start` is the attempt that began the current retry round: the schedule counts from it.
 */
export function webhookAttemptMessage(tenantId: string, deliveryId: string, input: { attempt: number; roundStart: number; trigger: 'scheduled' | 'manual'; nonce?: string }) {
  return {
    topic: WEBHOOK_TOPIC,
    dedupId: `webhook:${deliveryId}:${input.attempt}${input.nonce ? `:${input.nonce}` : ''}`,
    tenantId,
    payload: { delivery_id: deliveryId, attempt: input.attempt, round_start: input.roundStart, trigger: input.trigger },
  };
}

/**
 * Queues `type` for every active endpoint of the tenant subscribed to it, inside the caller's
 * transaction: one delivery row per endpoint plus the outbox message for its first attempt.
 * `messageKey` names the event (e.g. `batch:<id>`); the `webhook-id` derives from it, and the
 * unique (endpoint, message id) makes a second call for the same event a no-op.
 * Returns how many deliveries were created.
 */
export async function enqueueWebhookEvent(
  tx: DbOrTx,
  tables: TenantTables,
  clock: Clock,
  input: { tenantId: string; type: WebhookEventType; messageKey: string; data: Record<string, unknown> },
): Promise<number> {
  const { webhookEndpoints, webhookDeliveries } = tables;
  const endpoints = await tx.select({ id: webhookEndpoints.id, events: webhookEndpoints.events }).from(webhookEndpoints).where(eq(webhookEndpoints.status, 'active'));
  const subscribed = endpoints.filter((e) => e.events.includes(input.type));
  if (subscribed.length === 0) return 0;
  const now = clock.now();
  const messageId = `msg_${(await sha256Hex(`${input.tenantId}:${input.messageKey}`)).slice(0, 32)}`;
  const message: WebhookMessage = { type: input.type, timestamp: now.toISOString(), data: input.data };
  const created = await tx
    .insert(webhookDeliveries)
    .values(subscribed.map((e) => ({
      id: newId('dlv'), endpointId: e.id, messageId, eventType: input.type, payload: { ...message },
      status: 'pending' as const, attempts: 0, nextAttemptAt: now, createdAt: now,
    })))
    .onConflictDoNothing()
    .returning({ id: webhookDeliveries.id });
  for (const d of created) await enqueueStep(tx, tables, clock, webhookAttemptMessage(input.tenantId, d.id, { attempt: 1, roundStart: 1, trigger: 'scheduled' }));
  return created.length;
}

/** The tenant whose tables these are: data-plane schemas are `tenant_<id>` with `-` as `_`, and ids never hold `_`. */
export function tenantIdOfTables(tables: TenantTables): string {
  const schema = getTableConfig(tables.batches).schema ?? '';
  const id = schema.replace(/^tenant_/, '').replaceAll('_', '-');
  if (!schema.startsWith('tenant_') || !TENANT_ID_PATTERN.test(id)) throw new Error(`not a tenant schema: ${schema}`);
  return id;
}

/** Where a vendor reads the batch's acceptance report (DESIGN §4). */
export function batchReportUrl(services: Services, tenantId: string, batchId: string): string {
  const base = (services.env.PUBLIC_URL ?? `http://${services.env.HOST}:${services.env.PORT}`).replace(/\/$/, '');
  return `${base}/api/v1/ingest/${tenantId}/batch/${encodeURIComponent(batchId)}/report`;
}

/** `batch.completed` / `batch.completed_with_errors`: counts and failed files with reason codes, never content. */
export async function enqueueBatchCompleted(
  services: Services,
  tx: DbOrTx,
  tables: TenantTables,
  batch: { batchId: string; status: BatchStatus; summary: Record<string, number> },
): Promise<number> {
  const tenantId = tenantIdOfTables(tables);
  const { files } = tables;
  const failed = await tx
    .select({ fileId: files.fileId, status: files.status, error: files.error })
    .from(files)
    .where(and(eq(files.batchId, batch.batchId), inArray(files.status, FAILED_STATUSES)))
    .orderBy(files.position)
    .limit(MAX_FAILED_FILES + 1);
  const type: WebhookEventType = batch.status === 'completed' ? 'batch.completed' : 'batch.completed_with_errors';
  return enqueueWebhookEvent(tx, tables, services.clock, {
    tenantId,
    type,
    messageKey: `batch:${batch.batchId}`,
    data: {
      tenant_id: tenantId,
      batch_id: batch.batchId,
      status: batch.status,
      counts: batch.summary,
      failed_files: failed.slice(0, MAX_FAILED_FILES).map((f) => ({ file_id: f.fileId, status: f.status, code: f.error?.code ?? null })),
      failed_files_truncated: failed.length > MAX_FAILED_FILES,
      report_url: batchReportUrl(services, tenantId, batch.batchId),
    },
  });
}

/** `document.parse_failed`: which document failed and why (a reason code), never content or parser messages. */
export async function enqueueDocumentFailed(services: Services, tx: DbOrTx, tables: TenantTables, doc: DocumentFailure): Promise<number> {
  if (doc.stage !== 'parse') return 0;
  return enqueueWebhookEvent(tx, tables, services.clock, {
    tenantId: doc.tenantId,
    type: 'document.parse_failed',
    messageKey: `document:${doc.docId}:parse_failed:${doc.generation}`,
    data: { tenant_id: doc.tenantId, batch_id: doc.batchId, doc_id: doc.docId, file_id: doc.fileId, status: 'parse_failed', stage: doc.stage, code: doc.code },
  });
}

/**
 * Queues an event from outside a data-plane transaction (e.g. `audit.export_ready` once an export
 * is stored): opens one on the tenant's plane and kicks the relay after commit.
 */
export async function notifyWebhooks(services: Services, tenantId: string, input: { type: WebhookEventType; messageKey: string; data: Record<string, unknown> }): Promise<number> {
  const plane = await services.planes.forTenant(tenantId);
  const n = await plane.db.transaction((tx) => enqueueWebhookEvent(tx, plane.tables, services.clock, { tenantId, ...input, data: { tenant_id: tenantId, ...input.data } }));
  if (n) services.onOutboxWritten?.(tenantId);
  return n;
}

/**
 * The hooks the runtime entry installs on `services.hooks`: batch completion and document
 * failures queue webhook deliveries in the same transaction as the state change.
 */
export function webhookHooks(services: Services): NonNullable<Services['hooks']> {
  return {
    batchCompleted: async (tx, tables, batch) => {
      await enqueueBatchCompleted(services, tx, tables, batch);
    },
    documentFailed: async (tx, tables, doc) => {
      await enqueueDocumentFailed(services, tx, tables, doc);
    },
  };
}
