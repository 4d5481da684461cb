import { Hono } from 'hono';
import { requireTenantAccess } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { buildBatchReport, reportMarkdown } from '../../../shared/pipeline/report';

/** GET …/batch/{batch_id}/report — JSON, or Markdown with `Accept: text/markdown`. */
export const reportRoute = new Hono<AppEnv>().get('/ingest/:tenant_id/batch/:batch_id/report', requireTenantAccess('ingest', 'query'), async (c) => {
  const plane = await c.get('services').planes.forTenant(c.get('tenant').id);
  const report = await buildBatchReport(plane, c.req.param('batch_id'));
  if (/text\/markdown/.test(c.req.header('accept') ?? '')) {
    return c.body(reportMarkdown(report), 200, { 'Content-Type': 'text/markdown; charset=utf-8' });
  }
  return c.json(report);
});
