import type { Services } from '../services';
import { sweepAll, sweepTenant } from '../queue/sweeper';

/**
 * The embedded relay loop: sweeps every `intervalMs`, and at once for a tenant whose request
 * just wrote outbox rows or audit events. One sweep per tenant at a time; a kick during a sweep
 * schedules one more pass.
 */
export function startPipelineDriver(services: Services, opts: { intervalMs?: number } = {}) {
  const running = new Map<string, Promise<void>>();
  const again = new Set<string>();
  let stopped = false;

  const kick = (tenantId: string) => {
    if (stopped) return;
    if (running.has(tenantId)) {
      again.add(tenantId);
      return;
    }
    const p = (async () => {
      try {
        do {
          again.delete(tenantId);
          const r = await sweepTenant(services, tenantId);
          // A delivered step usually wrote the next message; keep going while there is work.
          if (r.sent > 0) again.add(tenantId);
        } while (again.has(tenantId) && !stopped);
      } catch (e) {
        services.log.log('error', 'relay pass failed', { tenant_id: tenantId, component: 'relay', error: e instanceof Error ? e.message : String(e) });
      } finally {
        running.delete(tenantId);
      }
    })();
    running.set(tenantId, p);
  };

  let sweeping = false;
  const timer = setInterval(() => {
    if (sweeping || stopped) return;
    sweeping = true;
    void sweepAll(services).finally(() => {
      sweeping = false;
    });
  }, opts.intervalMs ?? 2_000);
  timer.unref();

  services.onOutboxWritten = kick;
  services.onAuditRecorded = kick;
  return {
    kick,
    /** Resolves when no pass is running (tests). */
    async idle() {
      while (running.size) await Promise.all([...running.values()]);
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all([...running.values()]);
    },
  };
}
