import { eq, sql } from 'drizzle-orm';
import type { FileError, FileMetrics, FileStatus, Stage, Stages, TenantTables } from '../db/schema/tenant';
import type { DbOrTx } from '../db/types';

/**
 * Updates a file's status and one stage in one statement, keeping the other stages as they are
 * and a stage's first `started_at`. `metrics` replaces the file's metrics; `addMetrics` merges
 * into them.
 */
export async function setFileStage(
  tx: DbOrTx,
  tables: TenantTables,
  docId: string,
  input: {
    status: FileStatus;
    stage: keyof Stages;
    state: Stage['state'];
    at: Date;
    error?: FileError | null;
    metrics?: FileMetrics;
    addMetrics?: Partial<FileMetrics>;
  },
) {
  const { files } = tables;
  const at = input.at.toISOString();
  const path = `{${input.stage}}`;
  const started = sql`coalesce(nullif(${files.stages} #> ${`{${input.stage},started_at}`}::text[], 'null'::jsonb), to_jsonb(${at}::text))`;
  const stage =
    input.state === 'running'
      ? sql`jsonb_build_object('state', 'running', 'started_at', ${started}, 'finished_at', null)`
      : input.state === 'pending' || input.state === 'skipped'
        ? sql`jsonb_build_object('state', ${input.state}::text, 'started_at', null, 'finished_at', null)`
        : sql`jsonb_build_object('state', ${input.state}::text, 'started_at', ${started}, 'finished_at', ${at}::text)`;
  await tx
    .update(files)
    .set({
      status: input.status,
      stages: sql`jsonb_set(${files.stages}, ${path}::text[], ${stage})`,
      updatedAt: input.at,
      ...(input.error !== undefined ? { error: input.error } : {}),
      ...(input.metrics ? { metrics: input.metrics } : {}),
      ...(input.addMetrics ? { metrics: sql`coalesce(${files.metrics}, '{}'::jsonb) || ${JSON.stringify(input.addMetrics)}::jsonb` } : {}),
    })
    .where(eq(files.docId, docId));
}
