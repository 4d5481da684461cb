import { Hono } from 'hono';
import { requireTenantAccess } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { rateLimit } from '../../../shared/http/rate-limit';
import { submitBatch } from '../../../shared/intake/submit-batch';

/** POST /api/v1/ingest/{tenant_id}/batch — multipart: `manifest` first, then `files` parts. */
export const submitBatchRoute = new Hono<AppEnv>().post(
  '/ingest/:tenant_id/batch',
  requireTenantAccess('ingest'),
  rateLimit('batch_submissions', (c) => c.get('tenant').config?.batch_rate_limit_per_minute ?? c.get('services').env.BATCH_RATE_LIMIT_PER_MINUTE),
  async (c) => {
    const services = c.get('services');
    const tenant = c.get('tenant');
    const plane = await services.planes.forTenant(tenant.id);
    const { receipt, replayed } = await submitBatch(services, plane, tenant, {
      contentType: c.req.header('content-type'),
      body: c.req.raw.body,
      actor: c.get('principal').sub,
    });
    if (replayed) c.header('Frostbyte-Replayed', 'true');
    c.header('Location', `/api/v1/ingest/${tenant.id}/batch/${encodeURIComponent(receipt.batch_id)}`);
    return c.json(receipt, 202);
  },
);
