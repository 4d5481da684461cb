import { Hono } from 'hono';
import * as v from 'valibot';
import { requireAdmin } from '../../../shared/auth/middleware';
import { issueToken, parseTtl, revokeToken, SCOPES } from '../../../shared/auth/tokens';
import type { AppEnv } from '../../../shared/http/context';
import { AppError } from '../../../shared/http/errors';
import { TENANT_ID_PATTERN } from '../../../shared/ids';
import { findTenant } from '../../../shared/tenants/tenants';

export const IssueTokenSchema = v.object({
  tenant_id: v.optional(v.pipe(v.string(), v.regex(TENANT_ID_PATTERN, 'must be a tenant id'))),
  scopes: v.pipe(v.array(v.picklist(SCOPES, `must be one of ${SCOPES.join(', ')}`)), v.minLength(1, 'must name at least one scope')),
  ttl: v.optional(v.pipe(v.string(), v.regex(/^\d+[smhd]?$/, 'must be like 15m, 1h or 7d')), '1h'),
  sub: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200)), 'admin-api'),
});

export const RevokeTokenSchema = v.object({
  jti: v.pipe(v.string(), v.minLength(1)),
  tenant_id: v.optional(v.pipe(v.string(), v.regex(TENANT_ID_PATTERN))),
  /** When the token expires; kept on the revocation list until then (default: 30 days). */
  expires_at: v.optional(v.pipe(v.string(), v.check((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO-8601 timestamp'))),
});

async function body<T>(c: { req: { json(): Promise<unknown> } }, schema: v.GenericSchema<unknown, T>): Promise<T> {
  const json = await c.req.json().catch(() => {
    throw new AppError('VALIDATION_FAILED', 'Send a JSON body.');
  });
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', 'The request is invalid; see `errors`.', {
      errors: parsed.issues.map((i) => ({ field: v.getDotPath(i) ?? '(body)', message: i.message })),
    });
  }
  return parsed.output;
}

/** Token minting and revocation for platform operators (admin scope). */
export const adminTokenRoutes = new Hono<AppEnv>()
  .post('/admin/tokens', requireAdmin(), async (c) => {
    const services = c.get('services');
    const input = await body(c, IssueTokenSchema);
    const admin = input.scopes.includes('admin');
    if (admin && input.tenant_id) throw new AppError('VALIDATION_FAILED', 'Admin tokens carry no tenant_id.', { errors: [{ field: 'tenant_id', message: 'must be absent for admin tokens' }] });
    if (!admin && !input.tenant_id) throw new AppError('VALIDATION_FAILED', 'Tenant tokens need a tenant_id.', { errors: [{ field: 'tenant_id', message: 'is required' }] });
    if (input.tenant_id && !(await findTenant(services, input.tenant_id))) throw new AppError('NOT_FOUND', `Tenant ${input.tenant_id} was not found.`);
    const issued = await issueToken(services.keys, services.clock, services.tokens, {
      sub: input.sub, tenantId: input.tenant_id ?? null, scopes: input.scopes, ttlSeconds: parseTtl(input.ttl),
    });
    return c.json({ token: issued.token, jti: issued.jti, expires_at: issued.expiresAt.toISOString(), scopes: input.scopes, tenant_id: input.tenant_id ?? null }, 201);
  })
  .post('/admin/tokens/revoke', requireAdmin(), async (c) => {
    const services = c.get('services');
    const input = await body(c, RevokeTokenSchema);
    const expiresAt = input.expires_at ? new Date(input.expires_at) : new Date(services.clock.now().getTime() + 30 * 86_400_000);
    await revokeToken(services.control, services.clock, { jti: input.jti, tenantId: input.tenant_id ?? null, expiresAt });
    return c.json({ jti: input.jti, revoked: true, listed_until: expiresAt.toISOString() });
  });
