import { eq } from 'drizzle-orm';
import { appendEvents } from '../audit/append';
import type { AuditEventType } from '../audit/types';
import { tenants, type TenantConfig, type TenantState } from '../db/schema/control';
import { AppError } from '../http/errors';
import { TENANT_ID_PATTERN } from '../ids';
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
 * Creates a tenant and readies its storage in one go (the embedded default and the CLI).
 * Cloud provisioning with resumable steps builds on the same rows.
 */
export async function createTenant(
  services: Services,
  input: { tenantId: string; actor: string; config?: TenantConfig },
): Promise<Tenant> {
  const { tenantId, actor } = input;
  if (!TENANT_ID_PATTERN.test(tenantId)) {
    throw new AppError('VALIDATION_FAILED', 'Tenant ids are DNS labels: 2–63 lower-case letters, digits and hyphens, starting and ending with a letter or digit.', {
      errors: [{ field: 'tenant_id', message: 'must match ^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$' }],
    });
  }
  const now = services.clock.now();
  await services.control.transaction(async (tx) => {
    const existing = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId)).limit(1);
    if (existing.length) throw new AppError('CONFLICT', `Tenant ${tenantId} already exists.`);
    await tx.insert(tenants).values({ id: tenantId, state: 'PROVISIONING', config: input.config ?? {}, createdAt: now, updatedAt: now });
    await appendEvents(tx, tenantId, [
      { event_type: 'TENANT_CREATED', actor, resource_type: 'tenant', resource_id: tenantId, details: { component: 'tenants' } },
    ], services.clock);
  });
  const storage = await services.planes.provision(tenantId);
  await setTenantState(services, tenantId, 'ACTIVE', actor, 'TENANT_PROVISIONED', { component: 'tenants', bucket: storage.bucket, schema: storage.schema, ...(storage.database ? { database: storage.database } : {}) }, { storage });
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
