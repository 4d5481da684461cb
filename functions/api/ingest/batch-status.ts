import { Hono } from 'hono';
import { requireTenantAccess } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { getBatchStatus, getReceipt } from '../../../shared/intake/batch-status';

/** GET batch status and single receipts (scope ingest or query). */
export const batchStatusRoutes = new Hono<AppEnv>()
  .get('/ingest/:tenant_id/batch/:batch_id', requireTenantAccess('ingest', 'query'), async (c) => {
    const plane = await c.get('services').planes.forTenant(c.get('tenant').id);
    return c.json(await getBatchStatus(plane, c.req.param('batch_id')));
  })
  .get('/ingest/:tenant_id/receipt/:receipt_id', requireTenantAccess('ingest', 'query'), async (c) => {
    const plane = await c.get('services').planes.forTenant(c.get('tenant').id);
    return c.json(await getReceipt(plane, c.req.param('receipt_id')));
  });
