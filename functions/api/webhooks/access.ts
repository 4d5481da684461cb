import type { Context, MiddlewareHandler } from 'hono';
import * as v from 'valibot';
import { tenantFromHost } from '../../../shared/auth/middleware';
import { verifyToken } from '../../../shared/auth/tokens';
import type { AppEnv } from '../../../shared/http/context';
import { AppError } from '../../../shared/http/errors';
import { findTenant, requireServingTenant } from '../../../shared/tenants/tenants';

/**
 * Webhook routes: the tenant's own `ingest` token (same checks as requireTenantAccess), or a
 * platform `admin` token — which carries no tenant — for any tenant that still exists, suspended
 * ones included, so operators can manage endpoints on a vendor's behalf.
 */
export function requireWebhookAccess(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const services = c.get('services');
    const header = c.req.header('authorization');
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw new AppError('AUTHENTICATION_REQUIRED', 'Send `Authorization: Bearer <token>`.', { headers: { 'WWW-Authenticate': 'Bearer' } });
    const principal = await verifyToken(services.control, services.keys, services.clock, services.tokens, m[1]);
    const pathTenant = c.req.param('tenant_id');
    if (!pathTenant) throw new Error('requireWebhookAccess on a route without :tenant_id');
    if (principal.scopes.includes('admin') && principal.tenantId === null) {
      const tenant = await findTenant(services, pathTenant);
      if (!tenant || tenant.state === 'DEPROVISIONED' || tenant.state === 'DEPROVISIONING') throw new AppError('NOT_FOUND', `Tenant ${pathTenant} was not found.`);
      if (tenant.state !== 'ACTIVE' && tenant.state !== 'SUSPENDED') {
        throw new AppError('SERVICE_UNAVAILABLE', `Tenant ${pathTenant} is not ready yet (state ${tenant.state}).`, { headers: { 'Retry-After': '30' } });
      }
      c.set('principal', principal);
      c.set('tenant', tenant);
      return next();
    }
    if (!principal.scopes.includes('ingest')) throw new AppError('INSUFFICIENT_PERMISSIONS', 'This route needs one of the scopes: ingest, admin.');
    const hostTenant = tenantFromHost(c.req.header('host'), services.env.TENANT_DOMAIN);
    if (principal.tenantId !== pathTenant || (hostTenant && hostTenant !== pathTenant)) {
      throw new AppError('TENANT_MISMATCH', 'The token, the host and the path must name the same tenant.');
    }
    c.set('principal', principal);
    c.set('tenant', await requireServingTenant(services, pathTenant));
    return next();
  };
}

/** Reads and validates a JSON body (an empty body counts as `{}`); problems become VALIDATION_FAILED with `errors[]`. */
export async function readJson<T>(c: Context<AppEnv>, schema: v.GenericSchema<unknown, T>): Promise<T> {
  const text = await c.req.text();
  let json: unknown = {};
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError('VALIDATION_FAILED', 'The request body is not valid JSON.', { errors: [{ field: '(body)', message: 'must be JSON' }] });
    }
  }
  return validate(schema, json, 'Invalid request body.');
}

export function validate<T>(schema: v.GenericSchema<unknown, T>, input: unknown, detail: string): T {
  const parsed = v.safeParse(schema, input);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', detail, { errors: parsed.issues.map((i) => ({ field: v.getDotPath(i) ?? '(body)', message: i.message })) });
  }
  return parsed.output;
}
