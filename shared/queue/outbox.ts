import type { Clock } from '../clock';
import { controlOutbox } from '../db/schema/control-operations';
import type { TenantTables } from '../db/schema/tenant';
import type { DbOrTx } from '../db/types';
import { newId } from '../ids';
import type { StepMessage } from './queue';

/**
 * Writes the message for the next step in the caller's transaction (transactional outbox).
 * A message with a dedup id already in the outbox is the same work: it is not written twice.
 */
export async function enqueueStep(tx: DbOrTx, tables: TenantTables, clock: Clock, message: StepMessage, opts: { delayMs?: number } = {}) {
  const now = clock.now();
  await tx
    .insert(tables.outbox)
    .values({
      id: newId('msg'),
      topic: message.topic,
      dedupId: message.dedupId,
      payload: { ...message.payload, tenant_id: message.tenantId },
      createdAt: now,
      availableAt: new Date(now.getTime() + (opts.delayMs ?? 0)),
    })
    .onConflictDoNothing({ target: tables.outbox.dedupId });
}

/** The same, for control-plane work (provisioning, audit exports). */
export async function enqueueControlStep(tx: DbOrTx, clock: Clock, message: StepMessage, opts: { delayMs?: number } = {}) {
  const now = clock.now();
  await tx
    .insert(controlOutbox)
    .values({
      id: newId('msg'),
      topic: message.topic,
      dedupId: message.dedupId,
      payload: { ...message.payload, tenant_id: message.tenantId },
      createdAt: now,
      availableAt: new Date(now.getTime() + (opts.delayMs ?? 0)),
    })
    .onConflictDoNothing({ target: controlOutbox.dedupId });
}
