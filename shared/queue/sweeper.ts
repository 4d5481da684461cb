import { eq, isNull } from 'drizzle-orm';
import { flushAuditOutbox } from '../audit/flush';
import { tenants } from '../db/schema/control';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';
import { relayControlOutbox, relayOutbox } from './relay';
import { detectStuckRuns } from '../tenants/orchestrator';
import { catchUpVectors } from '../index/vector-catch-up';

/**
 * One sweep over every active tenant: append recorded audit events to the chain and relay due
 * outbox rows. The Node process runs it on a timer and when a request wrote something; Workers
 * and Lambda run it from a cron trigger / QStash schedule. Crashes between commit and publish
 * are covered here: unsent rows are simply still due.
 */
export async function sweepTenant(services: Services, tenantId: string, opts: { limit?: number } = {}) {
  const plane = await services.planes.forTenant(tenantId);
  await flushTenantAudit(services, plane);
  const relayed = await relayOutbox(services, plane, opts);
  if (relayed.sent || relayed.retried || relayed.dead) await flushAuditOutbox(services.control, plane.db, plane.tables, tenantId, { clock: services.clock, sha256: services.sha256 });
  return relayed;
}

/** Appends the tenant's recorded events to its chain, timed for the audit latency metric. */
export async function flushTenantAudit(services: Services, plane: DataPlane) {
  const started = Date.now();
  await flushAuditOutbox(services.control, plane.db, plane.tables, plane.tenantId, { clock: services.clock, sha256: services.sha256 });
  services.metrics?.observe('frostbyte_audit_append_latency_seconds', { tenant_id: plane.tenantId }, (Date.now() - started) / 1000);
}

/**
 * Moves a tenant's newly indexed chunks into the HNSW graph while its pipeline has nothing to
 * send (no unsent outbox row: nothing due, nothing in flight), one small batch at a time, until
 * none wait, `keepGoing` says stop, or `budgetMs` runs out. Returns the chunks moved.
 */
export async function catchUpTenantVectors(services: Services, tenantId: string, opts: { budgetMs?: number; keepGoing?: () => boolean } = {}) {
  const plane = await services.planes.forTenant(tenantId);
  if (!plane.capabilities.vector) return 0;
  const deadline = Date.now() + (opts.budgetMs ?? 10_000);
  const { outbox } = plane.tables;
  let moved = 0;
  while (Date.now() < deadline && (opts.keepGoing?.() ?? true)) {
    const busy = await plane.db.select({ id: outbox.id }).from(outbox).where(isNull(outbox.sentAt)).limit(1);
    if (busy.length) break;
    const n = await catchUpVectors(plane.db, plane.tables, plane.capabilities);
    moved += n;
    if (!n) {
      if (moved) services.log.log('info', 'vector graph caught up', { tenant_id: tenantId, component: 'indexer', chunks: moved });
      break;
    }
  }
  return moved;
}

export async function activeTenants(services: Services): Promise<string[]> {
  const rows = await services.control.select({ id: tenants.id }).from(tenants).where(eq(tenants.state, 'ACTIVE'));
  return rows.map((r) => r.id);
}

export async function sweepAll(services: Services) {
  await sweepControl(services).catch((e) => services.log.log('error', 'control sweep failed', { component: 'sweeper', error: e instanceof Error ? e.message : String(e) }));
  for (const id of await activeTenants(services)) {
    try {
      await sweepTenant(services, id);
      await catchUpTenantVectors(services, id, { budgetMs: 5_000 });
    } catch (e) {
      services.log.log('error', 'sweep failed', { tenant_id: id, component: 'sweeper', error: e instanceof Error ? e.message : String(e) });
    }
  }
}

/** Control-plane key the drivers use for provisioning and export work. */
export const CONTROL = '__control__';

export async function sweepControl(services: Services, opts: { limit?: number } = {}) {
  // Provisioning runs past their deadline are reported here, wherever control work is swept.
  await detectStuckRuns(services).catch((e) => services.log.log('error', 'stuck-run detection failed', { component: 'sweeper', error: e instanceof Error ? e.message : String(e) }));
  return relayControlOutbox(services, opts);
}
