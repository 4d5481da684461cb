import { asc, like } from 'drizzle-orm';
import { controlOutbox } from '../db/schema/control-operations';
import type { DbOrTx } from '../db/types';
import { enqueueControlStep } from '../queue/outbox';
import { RetryableStepError } from '../queue/step';
import type { Services } from '../services';

export type OwnerNotificationType = 'tenant.provision_failed' | 'tenant.provision_stuck' | 'tenant.rolled_back' | 'tenant.cleanup_failed';

/** What the platform owner's URL receives (JSON). `text` makes it readable in a chat webhook as is. */
export interface OwnerNotification {
  type: OwnerNotificationType;
  tenant_id: string;
  run_id: string;
  occurred_at: string;
  text: string;
  step?: string;
  error?: string;
  details?: Record<string, unknown>;
}

/** How a notification was handled, recorded in the audit event that caused it. */
export type NotificationOutcome = 'queued' | 'not_configured';

export const PROVISION_TOPIC = 'provision';

const dedupPrefix = (tenantId: string) => `notify:${tenantId}:`;

/**
 * Queues a notification in the caller's transaction, next to the state change it reports, so it
 * is sent exactly when that change commits. Delivery goes through the control outbox: the relay
 * retries it with backoff and dead-letters it after STEP_MAX_ATTEMPTS, and the row's `sent_at` /
 * `last_error` is the recorded outcome (`frostbyte tenant status` shows it).
 */
export async function queueOwnerNotification(tx: DbOrTx, services: Services, n: OwnerNotification): Promise<NotificationOutcome> {
  if (!services.env.PLATFORM_OWNER_WEBHOOK_URL) {
    services.log.log('warn', 'PLATFORM_OWNER_WEBHOOK_URL is not set; owner not notified', { component: 'provisioning', tenant_id: n.tenant_id, type: n.type });
    return 'not_configured';
  }
  await enqueueControlStep(tx, services.clock, {
    topic: PROVISION_TOPIC,
    dedupId: `${dedupPrefix(n.tenant_id)}${n.run_id}:${n.type}`,
    tenantId: n.tenant_id,
    payload: { action: 'notify', run_id: n.run_id, notification: { ...n } },
  });
  return 'queued';
}

/** POSTs one notification; a non-2xx answer or a network error is retried by the queue. */
export async function deliverOwnerNotification(services: Services, n: OwnerNotification, messageId: string): Promise<void> {
  const url = services.env.PLATFORM_OWNER_WEBHOOK_URL;
  if (!url) return;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Frostbyte', 'frostbyte-notification-id': messageId },
      body: JSON.stringify(n),
      // An owner endpoint that hangs must not hold the step route; the queue tries again.
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    throw new RetryableStepError(`owner notification failed: ${e instanceof Error ? e.message : String(e)}`, 60);
  }
  await res.body?.cancel().catch(() => {});
  if (!res.ok) throw new RetryableStepError(`owner notification answered HTTP ${res.status}`, 60);
  services.log.log('info', 'owner notified', { component: 'provisioning', tenant_id: n.tenant_id, type: n.type, run_id: n.run_id });
}

export interface NotificationRecord {
  type: string;
  run_id: string;
  status: 'delivered' | 'pending' | 'dead_lettered';
  attempts: number;
  created_at: string;
  sent_at: string | null;
  last_error: string | null;
}

/** The tenant's owner notifications and what became of each (newest last). */
export async function listOwnerNotifications(db: DbOrTx, tenantId: string): Promise<NotificationRecord[]> {
  const rows = await db
    .select()
    .from(controlOutbox)
    .where(like(controlOutbox.dedupId, `${dedupPrefix(tenantId).replace(/[\\%_]/g, (c) => `\\${c}`)}%`))
    .orderBy(asc(controlOutbox.createdAt))
    .limit(100);
  return rows.map((r) => {
    const n = (r.payload.notification ?? {}) as Partial<OwnerNotification>;
    const dead = r.sentAt !== null && (r.lastError ?? '').startsWith('dead-lettered');
    return {
      type: String(n.type ?? 'unknown'),
      run_id: String(n.run_id ?? ''),
      status: dead ? 'dead_lettered' : r.sentAt ? 'delivered' : 'pending',
      attempts: r.attempts,
      created_at: r.createdAt.toISOString(),
      sent_at: r.sentAt && !dead ? r.sentAt.toISOString() : null,
      last_error: r.lastError,
    };
  });
}
