import type { Services } from '../services';
import { relayOutbox } from '../queue/relay';
import { activeTenants, catchUpTenantVectors, CONTROL, flushTenantAudit, sweepControl } from '../queue/sweeper';

/** How long recorded audit events may wait so one chain append takes several (ms). */
const AUDIT_FLUSH_DELAY_MS = 250;

/**
 * The embedded relay loop. A kick (a request or step wrote outbox rows) or the timer starts a
 * pass for that tenant; up to `concurrency` passes run per tenant at once, each claiming one due
 * message at a time (claims keep them apart), so the parser pool's threads stay busy and an index
 * message does not wait for the slowest parse. A kick while every pass is busy schedules one more
 * pass. A pass that finds nothing due, while no other pass runs for the tenant, moves newly
 * indexed chunks into the HNSW graph until work arrives.
 *
 * Recorded audit events are appended to the tenant's chain by a flusher of their own, shortly
 * after they are recorded: one flush takes every event recorded meanwhile, instead of one chain
 * transaction per step.
 */
export function startPipelineDriver(services: Services, opts: { intervalMs?: number; concurrency?: number } = {}) {
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const running = new Map<string, Set<Promise<void>>>();
  const again = new Set<string>();
  const flushing = new Map<string, Promise<void>>();
  const flushAgain = new Set<string>();
  const waiting = new Set<string>();
  let stopped = false;
  const logError = (message: string, tenantId: string, e: unknown) =>
    services.log.log('error', message, { tenant_id: tenantId, component: 'relay', error: e instanceof Error ? e.message : String(e) });

  /** `recorded`: events were just recorded, so a flush already reading must run once more. */
  const flush = (tenantId: string, recorded = true) => {
    if (stopped || tenantId === CONTROL) return;
    // A flush still waiting will take these events too; one already reading may miss them.
    if (waiting.has(tenantId)) return;
    if (flushing.has(tenantId)) {
      if (recorded) flushAgain.add(tenantId);
      return;
    }
    const run = async () => {
      // Just-recorded events wait a moment for their neighbours; a sweep flushes at once.
      if (recorded) {
        waiting.add(tenantId);
        await new Promise((r) => setTimeout(r, AUDIT_FLUSH_DELAY_MS));
        waiting.delete(tenantId);
      }
      await flushTenantAudit(services, await services.planes.forTenant(tenantId));
    };
    const p = run()
      .catch((e) => logError('audit flush failed', tenantId, e))
      .finally(() => {
        flushing.delete(tenantId);
        if (flushAgain.delete(tenantId)) flush(tenantId);
      });
    flushing.set(tenantId, p);
  };

  const pass = async (tenantId: string) => {
    for (;;) {
      const r = tenantId === CONTROL ? await sweepControl(services, { limit: 1 }) : await relayOutbox(services, await services.planes.forTenant(tenantId), { limit: 1 });
      if (stopped) return;
      if (r.sent + r.retried + r.dead === 0) {
        const alone = () => !stopped && (running.get(tenantId)?.size ?? 0) <= 1 && !again.has(tenantId);
        if (tenantId !== CONTROL && alone()) await catchUpTenantVectors(services, tenantId, { budgetMs: 60_000, keepGoing: alone });
        return;
      }
    }
  };

  /**
   * `wrote`: a request or step just wrote outbox rows, so a busy tenant gets one more pass. The
   * timer's sweep only starts what is not running already (its next tick comes soon enough).
   */
  const kick = (tenantId: string, wrote = true) => {
    if (stopped) return;
    flush(tenantId, false);
    const passes = running.get(tenantId) ?? new Set<Promise<void>>();
    running.set(tenantId, passes);
    if (!wrote && passes.size) return;
    if (passes.size >= concurrency) {
      again.add(tenantId);
      return;
    }
    // New rows may be many (a batch's parse messages): start every pass at once, so the parser
    // threads fill up now rather than one more each time a parse finishes. A pass that finds
    // nothing ends after one query.
    do startPass(tenantId, passes);
    while (wrote && passes.size < concurrency);
  };

  const startPass = (tenantId: string, passes: Set<Promise<void>>) => {
    const p: Promise<void> = pass(tenantId)
      .catch((e) => logError('relay pass failed', tenantId, e))
      .finally(() => {
        passes.delete(p);
        if (!passes.size) running.delete(tenantId);
        if (again.delete(tenantId)) kick(tenantId);
      });
    passes.add(p);
  };

  const timer = setInterval(() => {
    if (stopped) return;
    void activeTenants(services)
      .then((ids) => {
        kick(CONTROL, false);
        for (const id of ids) kick(id, false);
      })
      .catch((e) => logError('sweep failed', '', e));
  }, opts.intervalMs ?? 2_000);
  timer.unref();

  // Control-plane work (provisioning, exports) is kicked with the CONTROL key.
  services.onOutboxWritten = (tenantId) => kick(tenantId);
  services.onAuditRecorded = (tenantId) => flush(tenantId);
  const all = () => [...[...running.values()].flatMap((s) => [...s]), ...flushing.values()];
  return {
    kick: (tenantId: string) => kick(tenantId),
    /** Resolves when no pass or flush is running (tests). */
    async idle() {
      while (running.size || flushing.size) await Promise.all(all());
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(all());
    },
  };
}
