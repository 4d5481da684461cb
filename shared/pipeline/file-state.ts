import { and, eq, inArray, notExists, sql } from 'drizzle-orm';
import type { FileError, FileMetrics, FileStatus, Stage, Stages, TenantTables } from '../db/schema/tenant';
import type { DbOrTx } from '../db/types';
import type { StepKey } from '../index/store';

type StageInput = {
  status: FileStatus;
  stage: keyof Stages;
  state: Stage['state'];
  at: Date;
  error?: FileError | null;
  metrics?: FileMetrics;
  addMetrics?: Partial<FileMetrics>;
};

/**
 * Updates a file's status and one stage in one statement, keeping the other stages as they are
 * and a stage's first `started_at`. `metrics` replaces the file's metrics; `addMetrics` merges
 * into them.
 */
export async function setFileStage(tx: DbOrTx, tables: TenantTables, docId: string, input: StageInput) {
  const { files } = tables;
  await tx.update(files).set(stageValues(tables, input)).where(eq(files.docId, docId));
}

/**
 * A step's start in one statement: the stage is marked running and the file row returned, but only
 * while the file is in one of `from` and this exact work (the step key) has not been done. Null
 * otherwise; the caller reads why (loadStepInput). The common path of every step, so one
 * statement instead of a read and a write.
 */
export async function startFileStage(
  db: DbOrTx,
  tables: TenantTables,
  key: StepKey,
  input: { status: FileStatus; stage: keyof Stages; at: Date; from: FileStatus[] },
) {
  const { files, stepRuns } = tables;
  const done = db
    .select({ one: sql`1` })
    .from(stepRuns)
    .where(and(eq(stepRuns.docId, key.docId), eq(stepRuns.step, key.step), eq(stepRuns.inputSha256, key.inputSha256), eq(stepRuns.codeVersion, key.codeVersion)));
  const rows = await db
    .update(files)
    .set(stageValues(tables, { status: input.status, stage: input.stage, state: 'running', at: input.at }))
    .where(and(eq(files.docId, key.docId), inArray(files.status, input.from), notExists(done)))
    .returning();
  return rows[0] ?? null;
}

function stageValues(tables: TenantTables, input: StageInput) {
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
  return {
    status: input.status,
    stages: sql`jsonb_set(${files.stages}, ${path}::text[], ${stage})`,
    updatedAt: input.at,
    ...(input.error !== undefined ? { error: input.error } : {}),
    ...(input.metrics ? { metrics: input.metrics } : {}),
    ...(input.addMetrics ? { metrics: sql`coalesce(${files.metrics}, '{}'::jsonb) || ${JSON.stringify(input.addMetrics)}::jsonb` } : {}),
  };
}
