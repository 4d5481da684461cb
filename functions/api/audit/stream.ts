import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import * as v from 'valibot';
import { canonicalJson } from '../../../shared/audit/hashing';
import { currentSeq, followAuditEvents } from '../../../shared/audit/service';
import type { AppEnv } from '../../../shared/http/context';
import { AppError } from '../../../shared/http/errors';
import { parseQuery, wholeNumber } from './validate';

/** Bounds of one connection, seconds: default and ceiling of `max_seconds`, default of `heartbeat_seconds`. */
const DEFAULT_MAX_SECONDS = 300;
const CEILING_MAX_SECONDS = 3600;
const DEFAULT_HEARTBEAT_SECONDS = 15;

const StreamQuery = v.object({
  last_event_id: v.optional(v.string()),
  max_seconds: v.optional(v.pipe(wholeNumber, v.minValue(1, 'must be at least 1'), v.maxValue(CEILING_MAX_SECONDS, `must be at most ${CEILING_MAX_SECONDS}`))),
  heartbeat_seconds: v.optional(v.pipe(wholeNumber, v.minValue(1, 'must be at least 1'), v.maxValue(60, 'must be at most 60'))),
});

/**
 * `GET /audit/{tenant_id}/stream`: Server-Sent Events of the tenant's new events (scope audit).
 * Each event is one message with `id: <seq>` and the event's canonical JSON as `data`; a client
 * that reconnects with `Last-Event-ID` (or `?last_event_id=`) resumes after that seq without a
 * gap. Without one the feed starts after the newest event. Heartbeat comments keep proxies from
 * closing an idle connection; the server ends the feed after `max_seconds` with an `end` event.
 */
export const auditStreamRoutes = new Hono<AppEnv>().get('/audit/:tenant_id/stream', async (c) => {
  const services = c.get('services');
  const tenantId = c.get('tenant').id;
  const q = parseQuery(c, StreamQuery);
  const lastEventId = c.req.header('last-event-id') ?? q.last_event_id;
  if (lastEventId !== undefined && !/^\d{1,15}$/.test(lastEventId.trim())) {
    throw new AppError('VALIDATION_FAILED', 'Last-Event-ID must be the seq of an event this stream sent.', { errors: [{ field: 'Last-Event-ID', message: 'must be a whole number' }] });
  }
  // Fixed before the response starts: events chained after this point are all sent.
  const afterSeq = lastEventId !== undefined ? Number(lastEventId.trim()) : await currentSeq(services, tenantId);
  const maxSeconds = q.max_seconds ?? DEFAULT_MAX_SECONDS;
  const heartbeatSeconds = q.heartbeat_seconds ?? DEFAULT_HEARTBEAT_SECONDS;
  c.header('X-Accel-Buffering', 'no');
  return streamSSE(
    c,
    async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      await stream.write(`retry: 3000\n: frostbyte audit stream of ${tenantId} after seq ${afterSeq}\n\n`);
      let last = afterSeq;
      for await (const item of followAuditEvents(services, tenantId, { afterSeq, maxMs: maxSeconds * 1000, heartbeatMs: heartbeatSeconds * 1000, signal: abort.signal })) {
        if (item.kind === 'heartbeat') await stream.write(': heartbeat\n\n');
        else {
          last = item.event.seq;
          await stream.writeSSE({ id: String(item.event.seq), data: canonicalJson(item.event) });
        }
      }
      if (!abort.signal.aborted) await stream.writeSSE({ event: 'end', data: JSON.stringify({ reason: 'max_duration', last_event_id: String(last) }) });
    },
    async (e) => {
      services.log.log('error', 'audit stream failed', { component: 'audit', tenant_id: tenantId, error: e.message });
    },
  );
});
