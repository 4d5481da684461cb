import type { Services } from '../services';
import { runDueAuditSchedules } from '../audit/schedules';
import { sweepAll } from './sweeper';

/**
 * Periodic work of the serverless runtimes, one table for both: Workers cron triggers
 * (wrangler.toml `[triggers] crons`) and Lambda schedules (sst.config.ts `sst.aws.Cron`) name a
 * job here. The Node server runs the same work from its in-process timers.
 */
export interface ScheduledJob {
  name: string;
  /** Cron expression in UTC (Workers syntax: minute hour day-of-month month day-of-week). */
  cron: string;
  /** The same cadence as an EventBridge rate expression, for sst.config.ts. */
  rate: string;
  run(services: Services): Promise<void>;
}

/** Audit-export schedules (control table audit_schedules): starts every due schedule of every tenant. */
export async function runScheduledAuditExports(services: Services): Promise<void> {
  await runDueAuditSchedules(services);
}

export const SCHEDULED_JOBS: readonly ScheduledJob[] = [
  /** Relays outbox rows a request could not hand over (QStash down, a crash between commit and publish) and chains recorded audit events. */
  { name: 'outbox-sweep', cron: '* * * * *', rate: 'rate(1 minute)', run: sweepAll },
  { name: 'audit-exports', cron: '*/5 * * * *', rate: 'rate(5 minutes)', run: runScheduledAuditExports },
];

export function jobsForCron(cron: string): ScheduledJob[] {
  return SCHEDULED_JOBS.filter((j) => j.cron === cron);
}

export function jobNamed(name: string): ScheduledJob | undefined {
  return SCHEDULED_JOBS.find((j) => j.name === name);
}
