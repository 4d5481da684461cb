import { nextScheduledRun, runDueAuditSchedules, type ScheduledRun } from '../audit/schedules';
import type { Services } from '../services';

export interface AuditScheduler {
  /** Runs due schedules now (also what the timer does). Passes never overlap. */
  runNow(): Promise<ScheduledRun[]>;
  stop(): Promise<void>;
}

/**
 * The in-process cron of the embedded default (DESIGN §1): runs due audit-export schedules.
 * The first pass runs at once, so runs missed while the process was down are caught up on start.
 * After each pass it sleeps until the next schedule is due, but never longer than `pollMs`
 * (default 15 s), so a schedule created by another process (the CLI, another instance) is seen.
 * Serverless runtimes call the same `runDueAuditSchedules` from their cron triggers.
 */
export function startAuditScheduler(services: Services, opts: { pollMs?: number } = {}): AuditScheduler {
  const pollMs = opts.pollMs ?? 15_000;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running: Promise<ScheduledRun[]> | null = null;

  const pass = (): Promise<ScheduledRun[]> => {
    running ??= runDueAuditSchedules(services)
      .then((r) => r.started)
      .catch((e: unknown) => {
        services.log.log('error', 'audit schedule pass failed', { component: 'scheduler', error: e instanceof Error ? e.message : String(e) });
        return [];
      })
      .finally(() => {
        running = null;
      });
    return running;
  };

  const loop = async () => {
    timer = null;
    if (stopped) return;
    await pass();
    if (stopped) return;
    let delay = pollMs;
    try {
      const next = await nextScheduledRun(services);
      if (next) delay = Math.min(pollMs, Math.max(250, next.getTime() - services.clock.now().getTime()));
    } catch {
      // Fall back to the poll interval; the next pass logs what is wrong.
    }
    if (!stopped) {
      timer = setTimeout(() => void loop(), delay);
      timer.unref?.();
    }
  };
  void loop();

  return {
    runNow: pass,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
