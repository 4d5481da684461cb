import { eq, sql } from 'drizzle-orm';
import type { FileError, FileStatus, Stage, Stages, TenantTables } from '../db/schema/tenant';
import type { DbOrTx } from '../db/types';

/** Updates a file's status and one stage, keeping the other stages as they are. */
export async function setFileStage(
  tx: DbOrTx,
  tables: TenantTables,
  docId: string,
  input: { status: FileStatus; stage: keyof Stages; state: Stage['state']; at: Date; error?: FileError | null },
) {
  const { files } = tables;
  const [row] = await tx.select({ stages: files.stages }).from(files).where(eq(files.docId, docId)).limit(1);
  if (!row) return;
  const at = input.at.toISOString();
  const prev = row.stages[input.stage];
  const stage: Stage =
    input.state === 'running'
      ? { state: 'running', started_at: prev.started_at ?? at, finished_at: null }
      : input.state === 'pending' || input.state === 'skipped'
        ? { state: input.state, started_at: null, finished_at: null }
        : { state: input.state, started_at: prev.started_at ?? at, finished_at: at };
  await tx
    .update(files)
    .set({
      status: input.status,
      stages: { ...row.stages, [input.stage]: stage },
      updatedAt: input.at,
      ...(input.error !== undefined ? { error: input.error } : {}),
    })
    .where(eq(files.docId, docId));
}

export { sql };
