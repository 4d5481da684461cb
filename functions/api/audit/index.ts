import { Hono } from 'hono';
import { AUDIT_RATE_LIMIT_PER_MINUTE } from '../../../shared/audit/service';
import { requireTenantAccess } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { rateLimit } from '../../../shared/http/rate-limit';
import { auditEventRoutes } from './events';
import { auditExportRoutes } from './exports';
import { auditScheduleRoutes } from './schedules';
import { auditStreamRoutes } from './stream';

/**
 * The audit API (DESIGN §6, docs/audit.md), mounted at `/api/v1`: `/audit/{tenant_id}/…` for
 * tokens with the `audit` scope of that tenant, 300 requests per minute per tenant; and the
 * operators' `/admin/tenants/{id}/audit-schedules`.
 */
export const auditRoutes = new Hono<AppEnv>()
  .use('/audit/:tenant_id/*', requireTenantAccess('audit'), rateLimit('audit', () => AUDIT_RATE_LIMIT_PER_MINUTE))
  .route('/', auditEventRoutes)
  .route('/', auditExportRoutes)
  .route('/', auditStreamRoutes)
  .route('/', auditScheduleRoutes);
