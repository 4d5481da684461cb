import { Hono } from 'hono';
import * as v from 'valibot';
import { createAuditSchedule, deleteAuditSchedule, listAuditSchedules } from '../../../shared/audit/schedules';
import { requireAdmin } from '../../../shared/auth/middleware';
import type { AppEnv } from '../../../shared/http/context';
import { parseJsonBody } from './validate';

const ScheduleBody = v.strictObject({ cron: v.string('is required'), format: v.optional(v.string()) });

/** Platform operators manage a tenant's scheduled audit exports (admin token without a tenant). */
export const auditScheduleRoutes = new Hono<AppEnv>()
  .post('/admin/tenants/:id/audit-schedules', requireAdmin(), async (c) => {
    const input = await parseJsonBody(c, ScheduleBody);
    const schedule = await createAuditSchedule(c.get('services'), c.req.param('id'), input, c.get('principal').sub);
    c.header('Location', `/api/v1/admin/tenants/${schedule.tenant_id}/audit-schedules/${schedule.schedule_id}`);
    return c.json(schedule, 201);
  })
  .get('/admin/tenants/:id/audit-schedules', requireAdmin(), async (c) => c.json(await listAuditSchedules(c.get('services'), c.req.param('id'))))
  .delete('/admin/tenants/:id/audit-schedules/:schedule_id', requireAdmin(), async (c) => {
    await deleteAuditSchedule(c.get('services'), c.req.param('id'), c.req.param('schedule_id'), c.get('principal').sub);
    return c.body(null, 204);
  });
