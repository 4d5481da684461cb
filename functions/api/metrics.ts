import { Hono } from 'hono';
import { requireAdmin } from '../../shared/auth/middleware';
import type { AppEnv } from '../../shared/http/context';
import { AppError } from '../../shared/http/errors';

/** GET /metrics — Prometheus text format, platform admins only. */
export const metricsRoute = new Hono<AppEnv>().get('/metrics', requireAdmin(), async (c) => {
  const metrics = c.get('services').metrics;
  if (!metrics) throw new AppError('NOT_FOUND', 'This runtime exposes no /metrics.');
  const { contentType, body } = await metrics.render();
  return c.body(body, 200, { 'Content-Type': contentType });
});
