import { Hono } from 'hono';
import { tenantFromHost } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { AppError } from '../../../shared/http/errors';
import { tenantHealth } from '../../../shared/tenants/health-check';

/**
 * Public readiness of one tenant: its own database and bucket answer. Provisioning calls it at
 * the tenant's public URL before the tenant goes ACTIVE; monitors can call it after. It answers
 * statuses and timings only, and 404 for a tenant that does not exist.
 */
export const tenantHealthRoute = new Hono<AppEnv>().get('/tenants/:tenant_id/health', async (c) => {
  const services = c.get('services');
  const tenantId = c.req.param('tenant_id');
  const hostTenant = tenantFromHost(c.req.header('host'), services.env.TENANT_DOMAIN);
  if (hostTenant && hostTenant !== tenantId) throw new AppError('TENANT_MISMATCH', 'The host and the path must name the same tenant.');
  const health = await tenantHealth(services, tenantId);
  c.header('Cache-Control', 'no-store');
  return c.json(health, health.status === 'ready' ? 200 : 503);
});
