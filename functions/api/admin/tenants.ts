import { Hono, type Context } from 'hono';
import * as v from 'valibot';
import { requireAdmin } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { AppError } from '../../../shared/http/errors';
import { updateTenantConfig } from '../../../shared/tenants/config';
import {
  abandonTenant,
  beginTenant,
  deprovisionTenant,
  getTenantStatus,
  listTenantResources,
  listTenants,
  resumeProvisioning,
  resumeTenantService,
  rollbackTenant,
  suspendTenant,
} from '../../../shared/tenants/lifecycle';

/** Platform operator routes for the tenant lifecycle (DESIGN §7); an admin token without a tenant. */

const CreateBody = v.object({ tenant_id: v.string(), config: v.optional(v.unknown()) });
const DeprovisionBody = v.object({ confirm: v.optional(v.string()) });
const SuspendBody = v.object({ reason: v.optional(v.pipe(v.string(), v.maxLength(500))) });

/** JSON body validated with valibot; an empty body counts as `{}` for the action routes. */
async function body<T>(c: Context<AppEnv>, schema: v.GenericSchema<unknown, T>, opts: { emptyIsObject?: boolean } = {}): Promise<T> {
  const text = await c.req.text();
  let json: unknown = {};
  if (text.trim() || !opts.emptyIsObject) {
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError('VALIDATION_FAILED', 'The body must be JSON.');
    }
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) {
    throw new AppError('VALIDATION_FAILED', 'Invalid request body.', { errors: parsed.issues.map((i) => ({ field: v.getDotPath(i) ?? 'body', message: i.message })) });
  }
  return parsed.output;
}

const statusUrl = (id: string) => `/api/v1/admin/tenants/${id}`;

export const adminTenantRoutes = new Hono<AppEnv>()
  .post('/admin/tenants', requireAdmin(), async (c) => {
    const services = c.get('services');
    const input = await body(c, CreateBody);
    await beginTenant(services, { tenantId: input.tenant_id, actor: c.get('principal').sub, config: input.config }, 'queued');
    c.header('Location', statusUrl(input.tenant_id));
    return c.json(await getTenantStatus(services, input.tenant_id), 202);
  })
  .get('/admin/tenants', requireAdmin(), async (c) => {
    const limit = c.req.query('limit');
    return c.json(await listTenants(c.get('services'), { state: c.req.query('state'), after: c.req.query('cursor'), limit: limit === undefined ? undefined : Number(limit) }));
  })
  .get('/admin/tenants/:id', requireAdmin(), async (c) => c.json(await getTenantStatus(c.get('services'), c.req.param('id'))))
  .get('/admin/tenants/:id/resources', requireAdmin(), async (c) => c.json(await listTenantResources(c.get('services'), c.req.param('id'))))
  .post('/admin/tenants/:id/resume', requireAdmin(), async (c) => {
    const r = await resumeProvisioning(c.get('services'), c.req.param('id'), c.get('principal').sub);
    c.header('Location', statusUrl(r.tenant_id));
    return c.json(r, 202);
  })
  .post('/admin/tenants/:id/rollback', requireAdmin(), async (c) => {
    const r = await rollbackTenant(c.get('services'), c.req.param('id'), c.get('principal').sub);
    c.header('Location', statusUrl(r.tenant_id));
    return c.json(r, 202);
  })
  .post('/admin/tenants/:id/suspend', requireAdmin(), async (c) => {
    const input = await body(c, SuspendBody, { emptyIsObject: true });
    return c.json(await suspendTenant(c.get('services'), c.req.param('id'), c.get('principal').sub, input.reason));
  })
  .post('/admin/tenants/:id/resume-service', requireAdmin(), async (c) => c.json(await resumeTenantService(c.get('services'), c.req.param('id'), c.get('principal').sub)))
  .post('/admin/tenants/:id/deprovision', requireAdmin(), async (c) => {
    const input = await body(c, DeprovisionBody, { emptyIsObject: true });
    const r = await deprovisionTenant(c.get('services'), c.req.param('id'), c.get('principal').sub, input.confirm);
    c.header('Location', statusUrl(r.tenant_id));
    return c.json(r, 202);
  })
  .post('/admin/tenants/:id/abandon', requireAdmin(), async (c) => {
    const r = await abandonTenant(c.get('services'), c.req.param('id'), c.get('principal').sub);
    c.header('Location', statusUrl(r.tenant_id));
    return c.json(r, 202);
  })
  .patch('/admin/tenants/:id/config', requireAdmin(), async (c) => {
    const patch = await body(c, v.unknown());
    return c.json(await updateTenantConfig(c.get('services'), c.req.param('id'), patch, c.get('principal').sub));
  });
