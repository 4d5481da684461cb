import type { Services } from '../services';
import { CONTROL, sweepControl, sweepTenant } from './sweeper';

/**
 * Request-scoped relay for runtimes without a background process (Workers, Lambda): requests
 * mark the tenants whose outbox or audit outbox they wrote (`services.onOutboxWritten` /
 * `onAuditRecorded`), and `drain()` sweeps each of them once the response is ready — in
 * `ctx.waitUntil` on Workers, before returning on Lambda (a frozen container runs nothing).
 * Anything a drain misses is picked up by the scheduled sweeper (cron), so this only cuts latency.
 */
export function createAfterResponseRelay(services: Services) {
  const due = new Set<string>();
  const mark = (tenantId: string) => {
    due.add(tenantId);
  };
  services.onOutboxWritten = mark;
  services.onAuditRecorded = mark;
  return {
    /** True when some request marked a tenant. */
    get pending() {
      return due.size > 0;
    },
    /** Sweeps the marked tenants; tenants marked while it runs get another pass (at most `maxPasses`). */
    async drain(maxPasses = 5) {
      for (let pass = 0; pass < maxPasses && due.size; pass++) {
        const ids = [...due];
        due.clear();
        for (const id of ids) {
          try {
            if (id === CONTROL) await sweepControl(services);
            else await sweepTenant(services, id);
          } catch (e) {
            services.log.log('error', 'relay after response failed; the scheduled sweep will retry', {
              tenant_id: id === CONTROL ? undefined : id, component: 'relay', error: e instanceof Error ? e.message : String(e),
            });
          }
        }
      }
    },
  };
}
