import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../http/context';
import { AppError } from '../http/errors';
import { TENANT_ID_PATTERN } from '../ids';
import { requireServingTenant } from '../tenants/tenants';
import { verifyToken, type Scope } from './tokens';

/**
 * Tenant named by the Host header: `acme-corp.localhost:8080`, or `acme-corp.<TENANT_DOMAIN>`.
 * Hosts without a tenant label (an IP, `localhost`, the bare domain) name none.
 */
export function tenantFromHost(host: string | undefined, tenantDomain: string | undefined): string | null {
  if (!host) return null;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  const suffixes = ['localhost', ...(tenantDomain ? [tenantDomain.toLowerCase()] : [])];
  for (const suffix of suffixes) {
    if (name.endsWith(`.${suffix}`)) {
      const label = name.slice(0, -(suffix.length + 1));
      if (TENANT_ID_PATTERN.test(label)) return label;
    }
  }
  return null;
}

async function authenticate(c: Parameters<MiddlewareHandler<AppEnv>>[0]) {
  const services = c.get('services');
  const header = c.req.header('authorization');
  const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!m) throw new AppError('AUTHENTICATION_REQUIRED', 'Send `Authorization: Bearer <token>`.', { headers: { 'WWW-Authenticate': 'Bearer' } });
  return verifyToken(services.control, services.keys, services.clock, services.tokens, m[1]);
}

/**
 * Vendor routes: a token with one of `scopes`, for the tenant in the path; the host's tenant,
 * when there is one, must agree. Resolves the tenant once; everything after uses its data plane.
 */
export function requireTenantAccess(...scopes: Scope[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await authenticate(c);
    if (!scopes.some((s) => principal.scopes.includes(s))) {
      throw new AppError('INSUFFICIENT_PERMISSIONS', `This route needs one of the scopes: ${scopes.join(', ')}.`);
    }
    const pathTenant = c.req.param('tenant_id');
    if (!pathTenant) throw new Error('requireTenantAccess on a route without :tenant_id');
    const hostTenant = tenantFromHost(c.req.header('host'), c.get('services').env.TENANT_DOMAIN);
    if (principal.tenantId !== pathTenant || (hostTenant && hostTenant !== pathTenant)) {
      throw new AppError('TENANT_MISMATCH', 'The token, the host and the path must name the same tenant.');
    }
    c.set('principal', principal);
    c.set('tenant', await requireServingTenant(c.get('services'), pathTenant));
    await next();
  };
}

/** Platform operator routes: the `admin` scope and no tenant. */
export function requireAdmin(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await authenticate(c);
    if (!principal.scopes.includes('admin') || principal.tenantId !== null) {
      throw new AppError('INSUFFICIENT_PERMISSIONS', 'This route needs a platform admin token.');
    }
    c.set('principal', principal);
    await next();
  };
}
