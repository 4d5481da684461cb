import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushAuditOutbox } from '../shared/audit/flush';
import { listEvents } from '../shared/audit/queries';
import { startWebhookReceiver, type WebhookReceiver } from './doubles/webhook-receiver';
import { batchForm, manifestFor, text, type TestFile } from './helpers/batch';
import { startRuntime, uniqueName, type DbKind, type TestRuntime } from './helpers/runtime';
import { waitFor } from './helpers/wait';

/**
 * Webhooks end to end: the real pipeline completes batches, the local relay runs the webhook step,
 * and a receiver process verifies every request with the `standardwebhooks` library.
 * Retries use a short schedule here (200 ms); tests/webhooks-schedule.test.ts walks the real one.
 */


interface Endpoint {
  id: string;
  url: string;
  events: string[];
  status: string;
  secret?: string;
  disabled_reason: string | null;
  previous_secret_expires_at: string | null;
}
interface Delivery {
  id: string;
  message_id: string;
  event_type: string;
  status: string;
  attempts: number;
  payload: { type: string; data: Record<string, unknown> };
  attempt_log: { attempt: number; trigger: string; at: string; status_code: number | null; latency_ms: number; error: string | null; response_body: string | null }[];
}

describe.each<DbKind>(['pglite', 'postgres'])('webhooks on %s', (kind) => {
  let rt: TestRuntime;
  let receiver: WebhookReceiver;
  beforeAll(async () => {
    [rt, receiver] = await Promise.all([
      startRuntime(kind, {
        WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_TIMEOUT_MS: '1000',
        WEBHOOK_RETRY_SCHEDULE: '200ms,200ms,200ms,200ms', STEP_RETRY_BASE_MS: '50', PUBLIC_URL: 'https://pipeline.frostbyte.test',
      }, { pipeline: true }),
      startWebhookReceiver(),
    ]);
  });
  afterAll(async () => {
    await receiver?.stop();
    await rt?.close();
  });

  // Delivery, retries, exactly-once and tenant isolation run on both stores (transactions, row
  // locks, unique constraints, one database per tenant on the server); the rest is storage-neutral
  // and runs once, on PGlite.
  const onceIt = kind === 'pglite' ? it : () => {};

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await rt.app.request(`/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const raw = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: raw ? JSON.parse(raw) : null };
  };

  async function setup(events = ['batch.completed', 'batch.completed_with_errors']) {
    const tenant = await rt.tenant('whk');
    const token = await rt.token(tenant, ['ingest', 'query']);
    const path = `/${uniqueName('hook')}`;
    const created = await call(token, 'POST', `/webhooks/${tenant}/endpoints`, { url: receiver.url(path), events, description: 'ERP intake' });
    expect(created.status).toBe(201);
    const endpoint = created.body as Endpoint & { secret: string };
    await receiver.configure(path, { secrets: [endpoint.secret] });
    return { tenant, token, path, endpoint, secret: endpoint.secret };
  }

  async function runBatch(tenant: string, token: string, files: TestFile[], batchId = uniqueName('b')) {
    const res = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, batchId, files), files), headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(202);
    await waitFor(() => call(token, 'GET', `/ingest/${tenant}/batch/${batchId}`), (r) => r.body.status !== 'processing');
    return batchId;
  }
  const txt = (id: string, body = `Clause ${id}: invoices are due within thirty days.\n`): TestFile => ({ file_id: id, filename: `${id}.txt`, mime_type: 'text/plain', bytes: text(body) });

  const deliveries = async (token: string, tenant: string, endpointId: string) => (await call(token, 'GET', `/webhooks/${tenant}/endpoints/${endpointId}/deliveries`)).body.deliveries as Delivery[];
  const settled = (token: string, tenant: string, endpointId: string, n = 1) =>
    waitFor(() => deliveries(token, tenant, endpointId), (ds) => ds.length >= n && ds.every((d) => d.status === 'delivered' || d.status === 'failed'));
  async function auditOf(tenant: string) {
    await rt.driver?.idle();
    const plane = await rt.services.planes.forTenant(tenant);
    await flushAuditOutbox(rt.services.control, plane.db, plane.tables, tenant);
    return (await listEvents(rt.services.control, tenant, { limit: 1000 })).events;
  }

  onceIt('creates an endpoint whose secret is shown once and never again', async () => {
    const { tenant, token, endpoint, secret } = await setup();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(endpoint).toMatchObject({ url: expect.stringContaining('http://127.0.0.1:'), events: ['batch.completed', 'batch.completed_with_errors'], status: 'active', description: 'ERP intake', tenant_id: tenant });
    const one = await call(token, 'GET', `/webhooks/${tenant}/endpoints/${endpoint.id}`);
    expect(one.status).toBe(200);
    const list = await call(token, 'GET', `/webhooks/${tenant}/endpoints`);
    expect(list.body.endpoints.map((e: Endpoint) => e.id)).toEqual([endpoint.id]);
    for (const shown of [one.body, list.body.endpoints[0]]) {
      expect(shown.secret).toBeUndefined();
      expect(JSON.stringify(shown)).not.toContain(secret.slice(6));
    }
  });

  it('sends exactly one signed batch.completed per batch, even when pipeline messages are redelivered', async () => {
    const { tenant, token, path, endpoint } = await setup();
    const batchId = await runBatch(tenant, token, [txt('a', 'Liability is capped at fees paid.\n'), txt('b')]);
    const [got] = await receiver.waitFor(path, 1);
    expect(got.verified).toEqual([true]);
    expect(got.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(got.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
    const message = JSON.parse(got.body);
    expect(message).toEqual({
      type: 'batch.completed',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      data: {
        tenant_id: tenant, batch_id: batchId, status: 'completed',
        counts: { total_files: 2, indexed: 2, processing: 0, failed: 0, rejected: 0, quarantined: 0, duplicate: 0 },
        failed_files: [], failed_files_truncated: false,
        report_url: `https://pipeline.frostbyte.test/api/v1/ingest/${tenant}/batch/${batchId}/report`,
      },
    });
    expect(got.body).not.toContain('Liability');

    const [delivery] = await settled(token, tenant, endpoint.id);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, event_type: 'batch.completed', message_id: got.headers['webhook-id'] });
    expect(delivery.attempt_log).toEqual([expect.objectContaining({ attempt: 1, trigger: 'scheduled', status_code: 200, error: null, response_body: 'receiver answered 200' })]);
    const delivered = (await auditOf(tenant)).filter((e) => e.event_type === 'WEBHOOK_DELIVERED');
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ resource_type: 'webhook', resource_id: delivery.id, details: { batch_id: batchId, endpoint_id: endpoint.id, attempts: 1, status_code: 200 } });

    // Redeliver the index message of an indexed document, as QStash may: the step has nothing to do.
    const plane = await rt.services.planes.forTenant(tenant);
    const [indexMsg] = await plane.db.select().from(plane.tables.outbox).where(eq(plane.tables.outbox.topic, 'index')).limit(1);
    const again = await rt.services.queue?.publish({ topic: 'index', dedupId: indexMsg.dedupId, tenantId: tenant, payload: indexMsg.payload }, 2);
    expect(again?.kind).toBe('done');
    // And run the completion hook a second time for the same batch: the delivery is unique per (endpoint, message).
    const hook = rt.services.hooks?.batchCompleted;
    expect(hook).toBeDefined();
    await plane.db.transaction((tx) => (hook as NonNullable<typeof hook>)(tx, plane.tables, { batchId, status: 'completed', summary: { total_files: 2, indexed: 2 } }));
    await rt.driver?.idle();
    await new Promise((r) => setTimeout(r, 600));
    expect(await receiver.received(path)).toHaveLength(1);
    expect(await deliveries(token, tenant, endpoint.id)).toHaveLength(1);
  });

  it('reports completed_with_errors with each failed file and its reason code, and document.parse_failed', async () => {
    const { tenant, token, path, endpoint } = await setup(['batch.completed_with_errors', 'document.parse_failed']);
    // A second endpoint that only wants clean batches hears nothing about this one.
    const cleanPath = `/${uniqueName('clean')}`;
    const clean = await call(token, 'POST', `/webhooks/${tenant}/endpoints`, { url: receiver.url(cleanPath), events: ['batch.completed'] });
    expect(clean.status).toBe(201);
    const broken: TestFile = { file_id: 'file_017', filename: 'broken.pdf', mime_type: 'application/pdf', bytes: text('%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis file was cut off in tran') };
    const badSum: TestFile = { ...txt('file_018'), sha256: 'f'.repeat(64) };
    const batchId = await runBatch(tenant, token, [broken, txt('ok'), badSum]);
    const got = await receiver.waitFor(path, 2);
    const messages = got.map((g) => ({ verified: g.verified, msg: JSON.parse(g.body) }));
    expect(messages.every((m) => m.verified[0])).toBe(true);
    const byType = Object.fromEntries(messages.map((m) => [m.msg.type, m.msg.data]));
    expect(Object.keys(byType).sort()).toEqual(['batch.completed_with_errors', 'document.parse_failed']);
    expect(byType['document.parse_failed']).toMatchObject({ tenant_id: tenant, batch_id: batchId, file_id: 'file_017', doc_id: expect.stringMatching(/^doc_/), status: 'parse_failed', code: 'FILE_CORRUPTED' });
    expect(byType['batch.completed_with_errors']).toMatchObject({
      status: 'completed_with_errors',
      counts: { total_files: 3, indexed: 1, failed: 1, rejected: 1 },
      failed_files: [{ file_id: 'file_017', status: 'parse_failed', code: 'FILE_CORRUPTED' }, { file_id: 'file_018', status: 'rejected', code: 'CHECKSUM_MISMATCH' }],
    });
    await settled(token, tenant, endpoint.id, 2);
    await rt.driver?.idle();
    expect(await receiver.received(cleanPath)).toEqual([]);
    expect(await deliveries(token, tenant, clean.body.id)).toEqual([]);
  });

  it('retries after a 500 and a timeout with the same webhook-id, then delivers, logging every attempt', async () => {
    const { tenant, token, path, endpoint } = await setup();
    await receiver.configure(path, { responses: ['500', 'hang'], fallback: '200' });
    await runBatch(tenant, token, [txt('r')]);
    const got = await receiver.waitFor(path, 3);
    expect(new Set(got.map((g) => g.headers['webhook-id'])).size).toBe(1);
    expect(got.every((g) => g.verified[0])).toBe(true);
    // Each retry waited for the schedule (200 ms) after the previous attempt ended.
    expect(got[1].at - got[0].at).toBeGreaterThanOrEqual(190);
    expect(got[2].at - got[1].at).toBeGreaterThanOrEqual(1000 + 190);
    const [d] = await settled(token, tenant, endpoint.id);
    expect(d.status).toBe('delivered');
    expect(d.attempts).toBe(3);
    expect(d.attempt_log.map((a) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, null, 'timed out after 1000 ms'],
      [3, 200, null],
    ]);
    expect(d.attempt_log[0].response_body).toBe('receiver answered 500');
    expect(d.attempt_log[1].latency_ms).toBeGreaterThanOrEqual(980);
    expect((await auditOf(tenant)).filter((e) => e.event_type.startsWith('WEBHOOK_')).map((e) => e.event_type)).toEqual(['WEBHOOK_DELIVERED']);
  });

  it('fails a delivery once the schedule is exhausted, records WEBHOOK_FAILED, and redelivers on request', async () => {
    const { tenant, token, path, endpoint } = await setup();
    await receiver.configure(path, { fallback: '503' });
    const batchId = await runBatch(tenant, token, [txt('x')]);
    const [d] = await settled(token, tenant, endpoint.id);
    // One attempt plus one per entry of WEBHOOK_RETRY_SCHEDULE.
    expect(d).toMatchObject({ status: 'failed', attempts: 5 });
    expect(d.attempt_log.every((a) => a.status_code === 503)).toBe(true);
    const failed = (await auditOf(tenant)).filter((e) => e.event_type === 'WEBHOOK_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ resource_type: 'webhook', resource_id: d.id, details: { reason_code: 'RETRIES_EXHAUSTED', batch_id: batchId, attempts: 5, status_code: 503 } });

    await receiver.configure(path, { fallback: '200' });
    const redelivered = await call(token, 'POST', `/webhooks/${tenant}/endpoints/${endpoint.id}/deliveries/${d.id}/redeliver`);
    expect(redelivered.status).toBe(202);
    const after = await waitFor(() => call(token, 'GET', `/webhooks/${tenant}/endpoints/${endpoint.id}/deliveries/${d.id}`), (r) => r.body.status === 'delivered');
    expect(after.body.attempts).toBe(6);
    expect(after.body.attempt_log[5]).toMatchObject({ attempt: 6, trigger: 'manual', status_code: 200 });
    const got = await receiver.received(path);
    expect(new Set(got.map((g) => g.headers['webhook-id'])).size).toBe(1);
    expect(got.at(-1)?.verified).toEqual([true]);
    expect((await auditOf(tenant)).filter((e) => e.event_type === 'WEBHOOK_DELIVERED')).toHaveLength(1);
  });

  onceIt('rotates the secret: during the grace period both secrets verify, afterwards only the new one', async () => {
    const { tenant, token, path, endpoint, secret: oldSecret } = await setup();
    const rotated = await call(token, 'POST', `/webhooks/${tenant}/endpoints/${endpoint.id}/rotate-secret`, {});
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.secret as string;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    const graceEnds = Date.parse(rotated.body.previous_secret_expires_at) - Date.now();
    expect(graceEnds).toBeGreaterThan(23.9 * 3_600_000);
    expect(graceEnds).toBeLessThan(24.1 * 3_600_000);
    expect((await call(token, 'GET', `/webhooks/${tenant}/endpoints/${endpoint.id}`)).body.secret).toBeUndefined();

    // A receiver still on the old secret and one already on the new secret both accept.
    await receiver.configure(path, { secrets: [oldSecret, newSecret] });
    await runBatch(tenant, token, [txt('g1')]);
    const [during] = await receiver.waitFor(path, 1);
    expect(during.verified).toEqual([true, true]);
    expect(during.headers['webhook-signature']?.split(' ')).toHaveLength(2);

    // Rotating again without grace: only the newest secret signs.
    const second = await call(token, 'POST', `/webhooks/${tenant}/endpoints/${endpoint.id}/rotate-secret`, { grace_period_hours: 0 });
    expect(second.body.previous_secret_expires_at).toBeNull();
    await receiver.configure(path, { secrets: [oldSecret, newSecret, second.body.secret] });
    await runBatch(tenant, token, [txt('g2')]);
    const after = await receiver.waitFor(path, 2);
    expect(after[1].verified).toEqual([false, false, true]);
    expect(after[1].headers['webhook-signature']?.split(' ')).toHaveLength(1);
  });

  onceIt('does not follow redirects: a 3xx is a failed attempt and the target is never called', async () => {
    const { tenant, token, path, endpoint } = await setup();
    await receiver.configure(path, { responses: ['redirect'], fallback: '200' });
    await runBatch(tenant, token, [txt('rd')]);
    const [d] = await settled(token, tenant, endpoint.id);
    expect(d.attempt_log[0]).toMatchObject({ status_code: 302, error: expect.stringContaining('not followed') });
    expect(d.attempt_log[1]).toMatchObject({ status_code: 200 });
    expect(await receiver.received('/redirect-target')).toEqual([]);
  });

  onceIt('refuses a destination at delivery time when it no longer passes the address rules', async () => {
    const { tenant, token, path, endpoint } = await setup();
    // The stored URL now names a host that resolves to loopback and is not allow-listed (as after
    // a DNS change): every attempt is refused before a connection is made.
    const plane = await rt.services.planes.forTenant(tenant);
    const { webhookEndpoints } = plane.tables;
    await plane.db.update(webhookEndpoints).set({ url: `http://localhost:${receiver.port}${path}` }).where(eq(webhookEndpoints.id, endpoint.id));
    await runBatch(tenant, token, [txt('ssrf')]);
    const [d] = await settled(token, tenant, endpoint.id);
    expect(d.status).toBe('failed');
    expect(d.attempt_log[0]).toMatchObject({ status_code: null, error: expect.stringMatching(/destination refused: localhost resolves to (127\.0\.0\.1|::1), not a public address \(loopback\)/) });
    expect(await receiver.received(path)).toEqual([]);
  });

  onceIt('updates, disables and enables an endpoint; a disabled endpoint gets no deliveries', async () => {
    const { tenant, token, path, endpoint } = await setup();
    const patched = await call(token, 'PATCH', `/webhooks/${tenant}/endpoints/${endpoint.id}`, { events: ['batch.completed'], description: null });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ events: ['batch.completed'], description: null, url: endpoint.url });
    const disabled = await call(token, 'POST', `/webhooks/${tenant}/endpoints/${endpoint.id}/disable`, { reason: 'maintenance window' });
    expect(disabled.body).toMatchObject({ status: 'disabled', disabled_reason: 'maintenance window' });
    await runBatch(tenant, token, [txt('d1')]);
    await rt.driver?.idle();
    expect(await deliveries(token, tenant, endpoint.id)).toEqual([]);
    const enabled = await call(token, 'POST', `/webhooks/${tenant}/endpoints/${endpoint.id}/enable`);
    expect(enabled.body).toMatchObject({ status: 'active', disabled_reason: null });
    await runBatch(tenant, token, [txt('d2')]);
    await receiver.waitFor(path, 1);
  });

  onceIt('validates input with field errors as problem+json', async () => {
    const { tenant, token } = await setup();
    const bad = await call(token, 'POST', `/webhooks/${tenant}/endpoints`, { url: receiver.url('/v'), events: ['batch.exploded'], extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.type).toBe('application/problem+json');
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(bad.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['events.0', 'extra']);
    const none = await call(token, 'POST', `/webhooks/${tenant}/endpoints`, { url: receiver.url('/v'), events: [] });
    expect(none.body.errors).toEqual([{ field: 'events', message: 'must name at least one event' }]);
    const notJson = await rt.app.request(`/api/v1/webhooks/${tenant}/endpoints`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{' });
    expect(notJson.status).toBe(400);
    const emptyPatch = await call(token, 'PATCH', `/webhooks/${tenant}/endpoints/whk_x`, {});
    expect(emptyPatch.status).toBe(400);
  });

  it('keeps tenants apart: another tenant’s endpoint ids are 404 on every route; admins manage any tenant', async () => {
    const a = await setup();
    const b = await setup();
    const [dA] = await (async () => {
      await runBatch(a.tenant, a.token, [txt('iso')]);
      return settled(a.token, a.tenant, a.endpoint.id);
    })();
    const base = `/webhooks/${b.tenant}/endpoints/${a.endpoint.id}`;
    const attempts: [string, string, unknown?][] = [
      ['GET', base], ['PATCH', base, { description: 'x' }], ['POST', `${base}/disable`], ['POST', `${base}/enable`],
      ['POST', `${base}/rotate-secret`], ['GET', `${base}/deliveries`], ['GET', `${base}/deliveries/${dA.id}`],
      ['POST', `${base}/deliveries/${dA.id}/redeliver`], ['DELETE', base],
      ['GET', `/webhooks/${b.tenant}/endpoints/${b.endpoint.id}/deliveries/${dA.id}`],
    ];
    for (const [method, p, body] of attempts) {
      const res = await call(b.token, method, p, body);
      expect([method, p, res.status, res.body.code]).toEqual([method, p, 404, 'NOT_FOUND']);
    }
    // B's token on A's path is refused outright.
    expect((await call(b.token, 'GET', `/webhooks/${a.tenant}/endpoints`)).body.code).toBe('TENANT_MISMATCH');
    // A query-only token may not manage webhooks.
    const queryToken = await rt.token(a.tenant, ['query']);
    expect((await call(queryToken, 'GET', `/webhooks/${a.tenant}/endpoints`)).body.code).toBe('INSUFFICIENT_PERMISSIONS');
    // A platform admin (no tenant in the token) manages any tenant's endpoints.
    const admin = await rt.token(null, ['admin']);
    const listed = await call(admin, 'GET', `/webhooks/${a.tenant}/endpoints`);
    expect(listed.body.endpoints.map((e: Endpoint) => e.id)).toEqual([a.endpoint.id]);
    const made = await call(admin, 'POST', `/webhooks/${b.tenant}/endpoints`, { url: receiver.url('/admin-made'), events: ['audit.export_ready'] });
    expect(made.status).toBe(201);
    expect((await call(admin, 'GET', `/webhooks/no-such-tenant/endpoints`)).status).toBe(404);
    // A's delivery is untouched, and deleting removes the endpoint with its log.
    expect((await call(a.token, 'GET', `/webhooks/${a.tenant}/endpoints/${a.endpoint.id}/deliveries/${dA.id}`)).status).toBe(200);
    expect((await call(a.token, 'DELETE', `/webhooks/${a.tenant}/endpoints/${a.endpoint.id}`)).status).toBe(204);
    expect((await call(a.token, 'GET', `/webhooks/${a.tenant}/endpoints/${a.endpoint.id}`)).status).toBe(404);
  });
});
