import type { Services } from '../services';
import { activeTenants, catchUpTenantVectors, CONTROL, sweepControl, sweepTenant } from '../queue/sweeper';

/**
 * The embedded relay loop. A kick (a request wrote outbox rows or audit events) or the timer
 * starts a pass for that tenant; up to `concurrency` passes run per tenant at once, each claiming
 * one due message at a time (claims keep them apart), so the parser pool's threads stay busy and
 * an index message does not wait for the slowest parse. A kick while every pass is busy
 * schedules one more pass. A pass that finds nothing due, while no other pass runs for the
 * tenant, moves newly indexed chunks into the HNSW graph until work arrives.
 */
export function startPipelineDriver(services: Services, opts: { intervalMs?: number; concurrency?: number } = {}) {
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const running = new Map<string, Set<Promise<void>>>();
  const again = new Set<string>();
  let stopped = false;

  const pass = async (tenantId: string) => {
    for (;;) {
      const r = tenantId === CONTROL ? await sweepControl(services, { limit: 1 }) : await sweepTenant(services, tenantId, { limit: 1 });
      if (stopped) return;
      if (r.sent + r.retried + r.dead === 0) {
        const alone = () => !stopped && (running.get(tenantId)?.size ?? 0) <= 1 && !again.has(tenantId);
        if (tenantId !== CONTROL && alone()) await catchUpTenantVectors(services, tenantId, { budgetMs: 60_000, keepGoing: alone });
        return;
      }
    }
  };

  const kick = (tenantId: string) => {
    if (stopped) return;
    const passes = running.get(tenantId) ?? new Set<Promise<void>>();
    running.set(tenantId, passes);
    if (passes.size >= concurrency) {
      again.add(tenantId);
      return;
    }
    const p: Promise<void> = pass(tenantId)
      .catch((e) => services.log.log('error', 'relay pass failed', { tenant_id: tenantId, component: 'relay', error: e instanceof Error ? e.message : String(e) }))
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
      .then((ids) => [CONTROL, ...ids].forEach(kick))
      .catch((e) => services.log.log('error', 'sweep failed', { component: 'relay', error: e instanceof Error ? e.message : String(e) }));
  }, opts.intervalMs ?? 2_000);
  timer.unref();

  // Control-plane work (provisioning, exports) is kicked with the CONTROL key.
  services.onOutboxWritten = kick;
  services.onAuditRecorded = kick;
  const all = () => [...running.values()].flatMap((s) => [...s]);
  return {
    kick,
    /** Resolves when no pass is running (tests). */
    async idle() {
      while (running.size) await Promise.all(all());
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all(all());
    },
  };
}
