import { and, eq } from 'drizzle-orm';
import type { TenantTables } from '../db/schema/tenant';
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

/**
 * A step's starting point in one query: the document's file row, and the recorded output when
 * this exact work (the step key) was done before. Null when the document does not exist.
 */
export async function loadStepInput(db: DbOrTx, tables: TenantTables, key: StepKey) {
  const { files, stepRuns } = tables;
  const [row] = await db
    .select({ file: files, done: { outputSha256: stepRuns.outputSha256 } })
    .from(files)
    .leftJoin(
      stepRuns,
      and(eq(stepRuns.docId, files.docId), eq(stepRuns.step, key.step), eq(stepRuns.inputSha256, key.inputSha256), eq(stepRuns.codeVersion, key.codeVersion)),
    )
    .where(eq(files.docId, key.docId))
    .limit(1);
  return row ?? null;
}
