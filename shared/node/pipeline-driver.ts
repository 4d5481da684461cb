import type { Services } from '../services';
import { activeTenants, CONTROL, sweepControl, sweepTenant } from '../queue/sweeper';

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
          const r = tenantId === CONTROL ? await sweepControl(services) : await sweepTenant(services, tenantId);
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

  // The timer kicks every active tenant through the same per-tenant serialisation as requests do.
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
