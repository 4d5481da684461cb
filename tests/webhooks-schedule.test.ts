import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../shared/clock';
import { localQueue } from '../shared/queue/local-queue';
import { qstashVerifier } from '../shared/queue/signing';
import { flushAuditOutbox } from '../shared/audit/flush';
import { listEvents } from '../shared/audit/queries';
import { DISABLE_AFTER_MS } from '../shared/webhooks/deliver';
import { startWebhookReceiver, type WebhookReceiver } from './doubles/webhook-receiver';
import { batchForm, manifestFor, text, type TestFile } from './helpers/batch';
import { ManualClock, startRuntime, uniqueName, type TestRuntime } from './helpers/runtime';
import { waitFor } from './helpers/wait';

/**
 * The default retry schedule (about three and a half days) and the five-day disabling rule,
 * walked with a ManualClock: each attempt is made when the clock reaches the delivery's
 * next_attempt_at, through the real relay, step route and receiver process.
 */

const MIN = 60_000;
const HOUR = 60 * MIN;
const DEFAULT_SCHEDULE_MS = [5_000, 5 * MIN, 30 * MIN, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR];


interface Delivery {
  id: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  attempt_log: { attempt: number; at: string; status_code: number | null }[];
}

describe('webhook retry schedule and disabling (manual clock)', () => {
  const clock = new ManualClock(new Date());
  let rt: TestRuntime;
  let receiver: WebhookReceiver;
  let tenant: string;
  let token: string;
  let endpointId: string;
  const path = `/${uniqueName('sched')}`;

  beforeAll(async () => {
    [rt, receiver] = await Promise.all([
      startRuntime('pglite', { WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_HOSTS: '127.0.0.1', WEBHOOK_TIMEOUT_MS: '1000', STEP_RETRY_BASE_MS: '50' }, { pipeline: true, clock }),
      startWebhookReceiver(),
    ]);
    // The local relay signs step messages with the runtime's clock, while their verifier checks
    // them against real time; with the clock days ahead every step message would be refused. So
    // here the relay's transport signs with the wall clock; everything else runs on the manual one.
    const steps = rt.services.steps;
    if (!steps) throw new Error('runtime has no step routes');
    const key = randomBytes(32).toString('hex');
    rt.services.queue = localQueue({ stepsBaseUrl: steps.baseUrl, signingKey: key, clock: systemClock, fetchImpl: async (url, init) => rt.app.request(url, init) });
    rt.services.steps = { baseUrl: steps.baseUrl, verifier: qstashVerifier({ current: key, next: key }) };
    tenant = await rt.tenant('sched');
    token = await rt.token(tenant, ['ingest'], { ttlSeconds: 60 * 86_400 });
    await receiver.configure(path, { fallback: '500' });
    const res = await call('POST', `/webhooks/${tenant}/endpoints`, { url: receiver.url(path), events: ['batch.completed'] });
    expect(res.status).toBe(201);
    endpointId = res.body.id;
  });
  afterAll(async () => {
    await receiver?.stop();
    await rt?.close();
  });

  async function call(method: string, p: string, body?: unknown) {
    const res = await rt.app.request(`/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const raw = await res.text();
    return { status: res.status, body: raw ? JSON.parse(raw) : null };
  }
  const deliveries = async () => (await call('GET', `/webhooks/${tenant}/endpoints/${endpointId}/deliveries`)).body.deliveries as Delivery[];
  const endpoint = async () => (await call('GET', `/webhooks/${tenant}/endpoints/${endpointId}`)).body;

  async function runBatch() {
    const batchId = uniqueName('b');
    const files: TestFile[] = [{ file_id: 'f', filename: 'f.txt', mime_type: 'text/plain', bytes: text(`Notice period ${batchId}.\n`) }];
    const res = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, batchId, files), files), headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(202);
    await waitFor(() => call('GET', `/ingest/${tenant}/batch/${batchId}`), (r) => r.body.status !== 'processing');
    return batchId;
  }

  /** Moves the clock to the delivery's next attempt and waits until that attempt is recorded. */
  async function nextAttempt(deliveryId: string): Promise<Delivery> {
    const before = (await deliveries()).find((d) => d.id === deliveryId) as Delivery;
    expect(before.next_attempt_at).not.toBeNull();
    clock.set(new Date(before.next_attempt_at as string));
    rt.driver?.kick(tenant);
    return waitFor(async () => (await deliveries()).find((d) => d.id === deliveryId) as Delivery, (d) => d.attempts === before.attempts + 1);
  }

  async function webhookEvents() {
    await rt.driver?.idle();
    const plane = await rt.services.planes.forTenant(tenant);
    await flushAuditOutbox(rt.services.control, plane.db, plane.tables, tenant);
    return (await listEvents(rt.services.control, tenant, { limit: 1000 })).events.filter((e) => e.event_type.startsWith('WEBHOOK_'));
  }

  it('retries on the growing schedule for about three and a half days, then fails with WEBHOOK_FAILED', async () => {
    await runBatch();
    let [d] = await waitFor(deliveries, (ds) => ds.length === 1 && ds[0].attempts === 1);
    expect(d.status).toBe('retrying');
    // The first attempt went out at (manual) now, so the receiver could still check its timestamp.
    const [first] = await receiver.waitFor(path, 1);
    expect(first.answered).toBe('500');
    while (d.status === 'retrying') d = await nextAttempt(d.id);
    expect(d.status).toBe('failed');
    expect(d.attempts).toBe(DEFAULT_SCHEDULE_MS.length + 1);
    const times = d.attempt_log.map((a) => Date.parse(a.at));
    expect(times.slice(1).map((t, i) => t - times[i])).toEqual(DEFAULT_SCHEDULE_MS);
    expect(times[times.length - 1] - times[0]).toBe(85 * HOUR + 35 * MIN + 5_000);
    expect(await receiver.received(path)).toHaveLength(11);
    const events = await webhookEvents();
    expect(events.map((e) => [e.event_type, e.details.reason_code])).toEqual([['WEBHOOK_FAILED', 'RETRIES_EXHAUSTED']]);
    // Failing for 3.6 days is not yet enough to disable the endpoint.
    const ep = await endpoint();
    expect(ep).toMatchObject({ status: 'active', disabled_reason: null });
    expect(Date.parse(ep.failing_since)).toBe(times[0]);
  });

  it('disables an endpoint that has failed for five days straight, and says why', async () => {
    const failingSince = Date.parse((await endpoint()).failing_since);
    clock.set(new Date(failingSince + 4 * 24 * HOUR));
    await runBatch();
    let d = await waitFor(async () => (await deliveries())[0], (x) => x.attempts === 1);
    while (d.status === 'retrying') d = await nextAttempt(d.id);
    const last = Date.parse(d.attempt_log[d.attempt_log.length - 1].at);
    const previous = Date.parse(d.attempt_log[d.attempt_log.length - 2].at);
    // The first attempt at or past five days of failures disabled the endpoint and ended the delivery.
    expect(last - failingSince).toBeGreaterThanOrEqual(DISABLE_AFTER_MS);
    expect(previous - failingSince).toBeLessThan(DISABLE_AFTER_MS);
    expect(d).toMatchObject({ status: 'failed', attempts: 8 });
    const ep = await endpoint();
    expect(ep.status).toBe('disabled');
    expect(ep.disabled_reason).toMatch(/every delivery failed since .* \(5 days\)\. Last error: HTTP 500/);
    const events = await webhookEvents();
    expect(events.slice(1).map((e) => [e.event_type, e.resource_id, e.details.reason_code])).toEqual([
      ['WEBHOOK_FAILED', d.id, 'ENDPOINT_DISABLED'],
      ['WEBHOOK_FAILED', endpointId, 'ENDPOINT_DISABLED'],
    ]);

    // Nothing is queued for a disabled endpoint; enabling clears the reason and the streak.
    await runBatch();
    await rt.driver?.idle();
    expect(await deliveries()).toHaveLength(2);
    const enabled = await call('POST', `/webhooks/${tenant}/endpoints/${endpointId}/enable`);
    expect(enabled.body).toMatchObject({ status: 'active', disabled_reason: null, failing_since: null });
  });
});
