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
  await enqueueSteps(tx, tables, clock, [message], opts);
}

/** Many messages in one statement (a batch's parse messages). */
export async function enqueueSteps(tx: DbOrTx, tables: TenantTables, clock: Clock, messages: StepMessage[], opts: { delayMs?: number } = {}) {
  if (!messages.length) return;
  const now = clock.now();
  const availableAt = new Date(now.getTime() + (opts.delayMs ?? 0));
  for (let i = 0; i < messages.length; i += 500) {
    await tx
      .insert(tables.outbox)
      .values(messages.slice(i, i + 500).map((m) => ({
        id: newId('msg'),
        topic: m.topic,
        dedupId: m.dedupId,
        payload: { ...m.payload, tenant_id: m.tenantId },
        createdAt: now,
        availableAt,
      })))
      .onConflictDoNothing({ target: tables.outbox.dedupId });
  }
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
