import { Hono } from 'hono';
import * as v from 'valibot';
import { requireAdmin } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { AppError } from '../../../shared/http/errors';
import { listDeadLetters, retryFile } from '../../../shared/pipeline/retry';
import { findTenant } from '../../../shared/tenants/tenants';

const ListQuery = v.object({
  tenant_id: v.optional(v.string()),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number), v.maxValue(1000))),
  include_retried: v.optional(v.picklist(['true', 'false'])),
});

/** Operator routes for the pipeline: dead letters and per-file retries (admin scope). */
export const adminPipelineRoutes = new Hono<AppEnv>()
  .get('/admin/dead-letters', requireAdmin(), async (c) => {
    const q = v.safeParse(ListQuery, c.req.query());
    if (!q.success) throw new AppError('VALIDATION_FAILED', 'Query parameters: tenant_id, limit (≤ 1000), include_retried.');
    const items = await listDeadLetters(c.get('services'), { tenantId: q.output.tenant_id, limit: q.output.limit, includeRetried: q.output.include_retried === 'true' });
    return c.json({ dead_letters: items });
  })
  .post('/admin/tenants/:tenant_id/files/:file_id/retry', requireAdmin(), async (c) => {
    const services = c.get('services');
    const tenant = await findTenant(services, c.req.param('tenant_id'));
    if (!tenant || tenant.state === 'DEPROVISIONED') throw new AppError('NOT_FOUND', `Tenant ${c.req.param('tenant_id')} was not found.`);
    const plane = await services.planes.forTenant(tenant.id);
    return c.json(await retryFile(services, plane, { fileId: c.req.param('file_id'), batchId: c.req.query('batch_id') }), 202);
  });
