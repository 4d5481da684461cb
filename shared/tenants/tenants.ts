import { eq } from 'drizzle-orm';
import { appendEvents } from '../audit/append';
import type { AuditEventType } from '../audit/types';
import { tenants, type TenantConfig, type TenantState } from '../db/schema/control';
import { AppError } from '../http/errors';
import { TENANT_ID_PATTERN } from '../ids';
import { beginTenant } from './lifecycle';
import { runProvisioningInline, type ProgressListener } from './orchestrator';
import type { Services } from '../services';

export type Tenant = typeof tenants.$inferSelect;

export async function findTenant(services: Services, tenantId: string): Promise<Tenant | null> {
  if (!TENANT_ID_PATTERN.test(tenantId)) return null;
  const rows = await services.control.select().from(tenants).where(eq(tenants.id, tenantId)).limit(1);
  return rows[0] ?? null;
}

/** The tenant a vendor request may use: it exists and is ACTIVE. */
export async function requireServingTenant(services: Services, tenantId: string): Promise<Tenant> {
  const tenant = await findTenant(services, tenantId);
  if (!tenant || tenant.state === 'DEPROVISIONED' || tenant.state === 'DEPROVISIONING') {
    throw new AppError('NOT_FOUND', `Tenant ${tenantId} was not found.`);
  }
  if (tenant.state === 'SUSPENDED') throw new AppError('TENANT_SUSPENDED', `Tenant ${tenantId} is suspended.`);
  if (tenant.state !== 'ACTIVE') throw new AppError('SERVICE_UNAVAILABLE', `Tenant ${tenantId} is not ready yet (state ${tenant.state}).`, { headers: { 'Retry-After': '30' } });
  return tenant;
}

/**
 * Creates a tenant and provisions it synchronously, in this process (the embedded default, the
 * CLI and tests): the same run, steps and audit events as the queued path behind the admin API,
 * each step tried once. On a failure the tenant is left FAILED (resume or roll it back) and
 * ProvisioningFailedError is thrown.
 */
export async function createTenant(
  services: Services,
  input: { tenantId: string; actor: string; config?: TenantConfig; onProgress?: ProgressListener },
): Promise<Tenant> {
  const { tenantId } = input;
  const { runId } = await beginTenant(services, input, 'inline');
  await runProvisioningInline(services, tenantId, runId, input.onProgress);
  const tenant = await findTenant(services, tenantId);
  if (!tenant) throw new Error(`tenant ${tenantId} vanished after creation`);
  return tenant;
}

export async function setTenantState(
  services: Services,
  tenantId: string,
  state: TenantState,
  actor: string,
  eventType: AuditEventType,
  details: Record<string, unknown>,
  extra: { storage?: Tenant['storage'] } = {},
) {
  await services.control.transaction(async (tx) => {
    await tx
      .update(tenants)
      .set({ state, updatedAt: services.clock.now(), ...(extra.storage ? { storage: extra.storage } : {}) })
      .where(eq(tenants.id, tenantId));
    await appendEvents(tx, tenantId, [{ event_type: eventType, actor, resource_type: 'tenant', resource_id: tenantId, details }], services.clock);
  });
}
