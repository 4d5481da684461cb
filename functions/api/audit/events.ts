import { Hono } from 'hono';
import * as v from 'valibot';
import { checkLogChain, queryAuditEvents, readAuditEvent, readProvenanceChain } from '../../../shared/audit/service';
import type { AppEnv } from '../../../shared/http/context';
import { optionalText, parseQuery, wholeNumber } from './validate';

export const EventsQuery = v.object({
  from: optionalText,
  to: optionalText,
  resource_id: optionalText,
  resource_type: optionalText,
  event_type: optionalText,
  cursor: optionalText,
  limit: v.optional(wholeNumber),
});

const VerifyQuery = v.object({
  from: optionalText,
  to: optionalText,
  from_seq: v.optional(wholeNumber),
  to_seq: v.optional(wholeNumber),
});

/** Reading a tenant's audit log (scope audit; mounted behind the audit guard in index.ts). */
export const auditEventRoutes = new Hono<AppEnv>()
  .get('/audit/:tenant_id/events', async (c) => c.json(await queryAuditEvents(c.get('services'), c.get('tenant').id, parseQuery(c, EventsQuery))))
  .get('/audit/:tenant_id/events/:event_id', async (c) => c.json(await readAuditEvent(c.get('services'), c.get('tenant').id, c.req.param('event_id'))))
  .get('/audit/:tenant_id/chain/:resource_id', async (c) => c.json(await readProvenanceChain(c.get('services'), c.get('tenant').id, c.req.param('resource_id'))))
  .get('/audit/:tenant_id/verify', async (c) => c.json(await checkLogChain(c.get('services'), c.get('tenant').id, parseQuery(c, VerifyQuery))));
