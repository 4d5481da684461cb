import type { DbOrTx } from '../db/types';
import type { StepKey } from '../index/store';
import type { IndexTables } from '../index/schema';

/** Thrown inside a step's final transaction when another delivery of the same work got there first. */
export class StepAlreadyDone extends Error {
  constructor() {
    super('step already done by a concurrent delivery');
  }
}

/**
 * Records the step as done, first thing in its final transaction. Two deliveries of one message
 * may run at once (at-least-once queues); only the one whose insert wins commits its state,
 * events and next message. The other rolls back and answers "already done".
 */
export async function claimStepRun(tx: DbOrTx, tables: IndexTables, key: StepKey, outputSha256: string, now: Date) {
  const won = await tx
    .insert(tables.stepRuns)
    .values({ ...key, outputSha256, completedAt: now })
    .onConflictDoNothing()
    .returning({ docId: tables.stepRuns.docId });
  if (!won.length) throw new StepAlreadyDone();
}
