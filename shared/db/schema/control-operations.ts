import { bigint, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** Control-plane tables for long-running operations: provisioning runs, audit exports, schedules. */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export type ProvisioningRunKind = 'provision' | 'rollback' | 'deprovision';
export type ProvisioningRunStatus = 'running' | 'succeeded' | 'failed' | 'rolled_back' | 'abandoned';
export type ProvisioningStepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'rolled_back' | 'skipped';

/** One orchestrator run for a tenant (provision, rollback or deprovision). */
export const provisioningRuns = pgTable(
  'provisioning_runs',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    kind: text('kind').$type<ProvisioningRunKind>().notNull(),
    status: text('status').$type<ProvisioningRunStatus>().notNull(),
    startedAt: ts('started_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
    finishedAt: ts('finished_at'),
    /** Past this the run is reported as stuck (default 15 min after start). */
    deadlineAt: ts('deadline_at').notNull(),
    stuckReportedAt: ts('stuck_reported_at'),
    error: text('error'),
    requestedBy: text('requested_by').notNull(),
  },
  (t) => [index('provisioning_runs_tenant').on(t.tenantId, t.startedAt)],
);

/** Ordered, idempotent steps of a tenant's provisioning, with what each created. */
export const provisioningSteps = pgTable(
  'provisioning_steps',
  {
    tenantId: text('tenant_id').notNull(),
    name: text('name').notNull(),
    position: integer('position').notNull(),
    status: text('status').$type<ProvisioningStepStatus>().notNull(),
    attempts: integer('attempts').notNull().default(0),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    /** Ids of what the step created (e.g. `{ server_id: "123" }`), so rollback deletes exactly those. */
    resourceIds: jsonb('resource_ids').$type<Record<string, string>>().notNull().default({}),
    error: text('error'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.name] })],
);

/**
 * Step messages of control-plane work (provisioning, audit exports), relayed like a tenant's
 * outbox. Provisioning runs before a tenant's data plane exists, so it cannot use that one.
 */
export const controlOutbox = pgTable(
  'control_outbox',
  {
    id: text('id').primaryKey(),
    topic: text('topic').notNull(),
    dedupId: text('dedup_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    createdAt: ts('created_at').notNull(),
    availableAt: ts('available_at').notNull(),
    attempts: integer('attempts').notNull().default(0),
    sentAt: ts('sent_at'),
    lastError: text('last_error'),
  },
  (t) => [uniqueIndex('control_outbox_dedup').on(t.dedupId), index('control_outbox_unsent').on(t.sentAt, t.availableAt)],
);

export type AuditExportStatus = 'pending' | 'running' | 'completed' | 'failed';

/** Audit exports (DESIGN §6): the file and its signed manifest live in the tenant's bucket. */
export const auditExports = pgTable(
  'audit_exports',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    status: text('status').$type<AuditExportStatus>().notNull(),
    format: text('format').notNull(),
    /** `{from, to}` or `{resource_id}` as requested. */
    selection: jsonb('selection').$type<Record<string, unknown>>().notNull(),
    requestedBy: text('requested_by').notNull(),
    scheduleId: text('schedule_id'),
    eventCount: bigint('event_count', { mode: 'number' }),
    fileSha256: text('file_sha256'),
    fileKey: text('file_key'),
    manifestKey: text('manifest_key'),
    manifest: jsonb('manifest').$type<Record<string, unknown>>(),
    error: text('error'),
    createdAt: ts('created_at').notNull(),
    completedAt: ts('completed_at'),
  },
  (t) => [index('audit_exports_tenant').on(t.tenantId, t.createdAt)],
);

/** Scheduled exports per tenant (cron in UTC); a run missed while the process was down catches up on start. */
export const auditSchedules = pgTable(
  'audit_schedules',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    cron: text('cron').notNull(),
    format: text('format').notNull(),
    enabled: integer('enabled').notNull().default(1),
    /** End of the window the last run exported; the next run starts there. */
    lastRunAt: ts('last_run_at'),
    nextRunAt: ts('next_run_at').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [index('audit_schedules_due').on(t.nextRunAt)],
);
