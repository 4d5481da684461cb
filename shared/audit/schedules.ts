import { Cron } from 'croner';
import { and, asc, eq, lte } from 'drizzle-orm';
import { newId } from '../ids';
import { auditSchedules } from '../db/schema/control-operations';
import { AppError, type FieldProblem } from '../http/errors';
import { CONTROL } from '../queue/sweeper';
import type { Services } from '../services';
import { findTenant } from '../tenants/tenants';
import { appendEvents } from './append';
import { EXPORT_FORMATS, type ExportFormat } from './manifest';
import { insertExport } from './service';

/**
 * Scheduled audit exports per tenant (DESIGN §6, issue 5). A schedule is a 5-field cron
 * expression in UTC (parsed by `croner`); each run exports the window from the end of the
 * previous run's window (the start of the chain for the first run) to the run's scheduled time.
 * Runs missed while nothing was running (the process was down, a cron trigger was skipped) are
 * caught up by the next call as one export covering the whole missed window, so consecutive
 * exports leave no gap. `runDueAuditSchedules(services)` is the one entry point: the Node
 * scheduler (shared/node/audit-scheduler.ts), Workers cron and QStash schedules all call it.
 */

export interface AuditScheduleView {
  schedule_id: string;
  tenant_id: string;
  cron: string;
  format: ExportFormat;
  enabled: boolean;
  /** End of the window the last run exported; null before the first run. */
  last_run_at: string | null;
  next_run_at: string;
  created_at: string;
}

type ScheduleRow = typeof auditSchedules.$inferSelect;

/** A cron expression as Frostbyte reads it: five fields (minute hour day-of-month month day-of-week), UTC. */
export function parseAuditCron(expr: string): Cron {
  return new Cron(expr.trim(), { timezone: 'UTC', mode: '5-part' });
}

/** Validates a schedule request; VALIDATION_FAILED names the bad field. Returns the first run time after `now`. */
export function validateSchedule(input: { cron?: unknown; format?: unknown }, now: Date): { cron: string; format: ExportFormat; nextRunAt: Date } {
  const problems: FieldProblem[] = [];
  const format = input.format ?? 'jsonl';
  if (typeof format !== 'string' || !(EXPORT_FORMATS as readonly string[]).includes(format)) problems.push({ field: 'format', message: `must be one of ${EXPORT_FORMATS.join(', ')}` });
  let nextRunAt: Date | null = null;
  const cron = typeof input.cron === 'string' ? input.cron.trim().replace(/\s+/g, ' ') : '';
  if (!cron) problems.push({ field: 'cron', message: 'is required: five fields, UTC, e.g. "0 2 * * *" (02:00 every day)' });
  else {
    try {
      nextRunAt = parseAuditCron(cron).nextRun(now);
      if (!nextRunAt) problems.push({ field: 'cron', message: 'never fires' });
    } catch (e) {
      problems.push({ field: 'cron', message: `is not a 5-field cron expression: ${(e as Error).message.replace(/^CronPattern: /, '')}` });
    }
  }
  if (problems.length || !nextRunAt) throw new AppError('VALIDATION_FAILED', 'Invalid audit export schedule.', { errors: problems });
  return { cron, format: format as ExportFormat, nextRunAt };
}

async function requireScheduleTenant(services: Services, tenantId: string) {
  const tenant = await findTenant(services, tenantId);
  if (!tenant || tenant.state === 'DEPROVISIONING' || tenant.state === 'DEPROVISIONED') throw new AppError('NOT_FOUND', `Tenant ${tenantId} was not found.`);
  return tenant;
}

/**
 * Creates a schedule. The change is recorded in the tenant's own chain as TENANT_CONFIG_UPDATED
 * (component `audit`), in the same transaction, so a SIEM sees when its feed was set up or removed.
 */
export async function createAuditSchedule(services: Services, tenantId: string, input: { cron?: unknown; format?: unknown }, actor: string): Promise<AuditScheduleView> {
  await requireScheduleTenant(services, tenantId);
  const now = services.clock.now();
  const { cron, format, nextRunAt } = validateSchedule(input, now);
  const id = newId('sch');
  const row = await services.control.transaction(async (tx) => {
    const [created] = await tx.insert(auditSchedules).values({ id, tenantId, cron, format, enabled: 1, lastRunAt: null, nextRunAt, createdAt: now }).returning();
    await appendEvents(tx, tenantId, [scheduleEvent('audit_schedule_created', created, actor)], services.clock, { sha256: services.sha256 });
    return created;
  });
  return toView(row);
}

export async function listAuditSchedules(services: Services, tenantId: string): Promise<{ tenant_id: string; schedules: AuditScheduleView[] }> {
  await requireScheduleTenant(services, tenantId);
  const rows = await services.control.select().from(auditSchedules).where(eq(auditSchedules.tenantId, tenantId)).orderBy(asc(auditSchedules.id));
  return { tenant_id: tenantId, schedules: rows.map(toView) };
}

/** Deletes a schedule of this tenant (another tenant's schedule id is not found). Exports it made stay. */
export async function deleteAuditSchedule(services: Services, tenantId: string, scheduleId: string, actor: string): Promise<void> {
  await requireScheduleTenant(services, tenantId);
  await services.control.transaction(async (tx) => {
    const [deleted] = await tx.delete(auditSchedules).where(and(eq(auditSchedules.tenantId, tenantId), eq(auditSchedules.id, scheduleId))).returning();
    if (!deleted) throw new AppError('NOT_FOUND', `Audit schedule ${scheduleId} was not found.`);
    await appendEvents(tx, tenantId, [scheduleEvent('audit_schedule_deleted', deleted, actor)], services.clock, { sha256: services.sha256 });
  });
}

function scheduleEvent(change: 'audit_schedule_created' | 'audit_schedule_deleted', row: ScheduleRow, actor: string) {
  return {
    event_type: 'TENANT_CONFIG_UPDATED' as const,
    actor,
    resource_type: 'tenant' as const,
    resource_id: row.tenantId,
    details: { component: 'audit', change, schedule_id: row.id, cron: row.cron, format: row.format },
  };
}

export interface ScheduledRun {
  schedule_id: string;
  tenant_id: string;
  export_id: string;
  from: string | null;
  to: string;
}

/** Schedules looked at per call; the rest are due again on the next call. */
const DUE_BATCH = 100;

/**
 * Starts an export for every schedule whose `next_run_at` has passed: one export per schedule
 * covering [last_run_at, latest scheduled time ≤ now), then moves the schedule on. Each schedule
 * is claimed under a row lock (`FOR UPDATE SKIP LOCKED`) and re-checked, and the export row, its
 * step message and the schedule's advance commit together, so two runners (a Node process and a
 * Workers cron, two instances) never start the same window twice and a crash starts it once.
 * Schedules of tenants that are not ACTIVE wait (their window grows and is exported once they are
 * back); schedules of removed tenants are disabled.
 */
export async function runDueAuditSchedules(services: Services): Promise<{ started: ScheduledRun[] }> {
  const now = services.clock.now();
  const due = await services.control
    .select()
    .from(auditSchedules)
    .where(and(eq(auditSchedules.enabled, 1), lte(auditSchedules.nextRunAt, now)))
    .orderBy(asc(auditSchedules.nextRunAt))
    .limit(DUE_BATCH);
  const started: ScheduledRun[] = [];
  for (const candidate of due) {
    try {
      const tenant = await findTenant(services, candidate.tenantId);
      if (!tenant || tenant.state === 'DEPROVISIONING' || tenant.state === 'DEPROVISIONED') {
        await services.control.update(auditSchedules).set({ enabled: 0 }).where(eq(auditSchedules.id, candidate.id));
        continue;
      }
      if (tenant.state !== 'ACTIVE') continue;
      const run = await services.control.transaction(async (tx) => {
        const [s] = await tx
          .select()
          .from(auditSchedules)
          .where(and(eq(auditSchedules.id, candidate.id), eq(auditSchedules.enabled, 1), lte(auditSchedules.nextRunAt, now)))
          .for('update', { skipLocked: true });
        if (!s) return null;
        const cron = parseAuditCron(s.cron);
        // The latest scheduled time at or before now (croner's previousRuns excludes its reference).
        const latest = cron.previousRuns(1, new Date(now.getTime() + 1))[0];
        const to = latest && latest > s.nextRunAt ? latest : s.nextRunAt;
        const next = cron.nextRun(to) ?? new Date('9999-12-31T00:00:00.000Z');
        const from = s.lastRunAt;
        await tx.update(auditSchedules).set({ lastRunAt: to, nextRunAt: next }).where(eq(auditSchedules.id, s.id));
        if (from && from >= to) return null;
        const row = await insertExport(tx, services, {
          tenantId: s.tenantId,
          selection: { from: from ? from.toISOString() : null, to: to.toISOString(), resource_id: null },
          format: s.format as ExportFormat,
          actor: 'system',
          scheduleId: s.id,
        });
        return { schedule_id: s.id, tenant_id: s.tenantId, export_id: row.id, from: from ? from.toISOString() : null, to: to.toISOString() };
      });
      if (run) {
        started.push(run);
        services.log.log('info', 'scheduled audit export started', { component: 'audit', tenant_id: run.tenant_id, schedule_id: run.schedule_id, export_id: run.export_id });
      }
    } catch (e) {
      services.log.log('error', 'scheduled audit export could not start', {
        component: 'audit', tenant_id: candidate.tenantId, schedule_id: candidate.id, error: e instanceof Error ? e.message : String(e),
      });
    }
  }
  if (started.length) services.onOutboxWritten?.(CONTROL);
  return { started };
}

/** When the next schedule is due (null: none enabled); the Node scheduler sleeps until then. */
export async function nextScheduledRun(services: Services): Promise<Date | null> {
  const rows = await services.control
    .select({ at: auditSchedules.nextRunAt })
    .from(auditSchedules)
    .where(eq(auditSchedules.enabled, 1))
    .orderBy(asc(auditSchedules.nextRunAt))
    .limit(1);
  return rows[0]?.at ?? null;
}

function toView(row: ScheduleRow): AuditScheduleView {
  return {
    schedule_id: row.id,
    tenant_id: row.tenantId,
    cron: row.cron,
    format: row.format as ExportFormat,
    enabled: row.enabled === 1,
    last_run_at: row.lastRunAt ? row.lastRunAt.toISOString() : null,
    next_run_at: row.nextRunAt.toISOString(),
    created_at: row.createdAt.toISOString(),
  };
}
