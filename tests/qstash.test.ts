import { serve, type ServerType } from '@hono/node-server';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetters, tenants } from '../shared/db/schema/control';
import { signLikeQstash } from '../shared/queue/signing';
import { startQstashDouble } from './doubles/qstash/qstash-double';
import { batchForm, manifestFor, text, type TestFile } from './helpers/batch';
import { startRuntime, type TestRuntime } from './helpers/runtime';
import { freePort } from './helpers/server-process';

/** The production chaining path: relay → QStash publish API (a wire-level double) → signed step calls. */
describe('pipeline through the QStash adapter', () => {
  const keys = { token: 'qstash-test-token', current: 'sig_current_test_key', next: 'sig_next_test_key' };
  let rt: TestRuntime;
  let server: ServerType;
  let qstash: Awaited<ReturnType<typeof startQstashDouble>>;
  let tenant: string;
  let token: string;
  let base: string;

  beforeAll(async () => {
    qstash = await startQstashDouble({ token: keys.token, currentSigningKey: keys.current, retryDelayMs: 100 });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    rt = await startRuntime('postgres', {
      PUBLIC_URL: base, QSTASH_URL: qstash.url, QSTASH_TOKEN: keys.token,
      QSTASH_CURRENT_SIGNING_KEY: keys.current, QSTASH_NEXT_SIGNING_KEY: keys.next,
    }, { pipeline: true });
    server = serve({ fetch: rt.app.fetch, port, hostname: '127.0.0.1' });
    tenant = await rt.tenant('qs');
    token = await rt.token(tenant, ['ingest']);
  });
  afterAll(async () => {
    await qstash?.idle();
    server?.close();
    await rt?.close();
    await qstash?.close();
  });

  const status = async (batch: string) => (await rt.app.request(`/api/v1/ingest/${tenant}/batch/${batch}`, { headers: { authorization: `Bearer ${token}` } })).json();
  async function until(batch: string) {
    for (let i = 0; i < 1200; i++) {
      const s = await status(batch);
      if (s.status !== 'processing') return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('batch did not finish');
  }

  it('publishes each step with its dedup id, retries and failure callback, and the signed deliveries complete the batch', async () => {
    const files: TestFile[] = [{ file_id: 'q1', filename: 'q1.txt', mime_type: 'text/plain', bytes: text('Governing law is the State of New York.\n') }];
    const res = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'qs-1', files), files), headers: { authorization: `Bearer ${token}` } });
    const receipt = await res.json();
    const final = await until('qs-1');
    expect(final.status).toBe('completed');
    const doc = receipt.receipts[0].doc_id;
    const forDoc = qstash.published.filter((p) => p.body.includes(doc));
    expect(forDoc.map((p) => p.destination)).toEqual([`${base}/steps/parse`, `${base}/steps/index`]);
    const parse = forDoc[0];
    expect(parse.headers['upstash-deduplication-id']).toBe(`${doc}:parse:${receipt.receipts[0].sha256}`);
    expect(parse.headers['upstash-retries']).toBe('5');
    expect(parse.headers['upstash-failure-callback']).toBe(`${base}/steps/failed`);
    expect(parse.headers.authorization).toBe(`Bearer ${keys.token}`);
    expect(qstash.deliveries.filter((d) => d.messageId === parse.messageId).map((d) => d.status)).toEqual([200]);
  });

  it('refuses a step call whose signature was made with another key', async () => {
    const body = JSON.stringify({ tenant_id: tenant, doc_id: 'doc_x', batch_id: 'b', file_id: 'f', sha256: 'a'.repeat(64), storage_key: 'k', mime_type: 'text/plain' });
    const forged = await signLikeQstash('not-the-key', `${base}/steps/parse`, body, new Date());
    const res = await fetch(`${base}/steps/parse`, { method: 'POST', body, headers: { 'upstash-signature': forged, 'content-type': 'application/json' } });
    expect(res.status).toBe(401);
    const good = await signLikeQstash(keys.next, `${base}/steps/parse`, body, new Date());
    const next = await fetch(`${base}/steps/parse`, { method: 'POST', body, headers: { 'upstash-signature': good, 'content-type': 'application/json' } });
    expect(next.status).toBe(200);
    expect(await next.json()).toMatchObject({ status: 'skipped' });
  });

  it('lets queued work wait while a tenant is suspended, then finishes it; a duplicate publish is delivered once', async () => {
    const files: TestFile[] = [{ file_id: 'q2', filename: 'q2.txt', mime_type: 'text/plain', bytes: text('Notices must be sent by registered mail.\n') }];
    await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'qs-2', files), files), headers: { authorization: `Bearer ${token}` } });
    await rt.services.control.update(tenants).set({ state: 'SUSPENDED' }).where(eq(tenants.id, tenant));
    rt.driver?.kick(tenant);
    await rt.driver?.idle();
    await new Promise((r) => setTimeout(r, 400));
    expect((await status('qs-2').catch(() => ({ status: 'unreadable' }))).status).not.toBe('completed');
    await rt.services.control.update(tenants).set({ state: 'ACTIVE' }).where(eq(tenants.id, tenant));
    const final = await until('qs-2');
    expect(final.status).toBe('completed');
    const parseMsg = qstash.published.find((p) => p.destination.endsWith('/steps/parse') && p.body.includes(final.files[0].doc_id));
    const attempts = qstash.deliveries.filter((d) => d.messageId === parseMsg?.messageId).map((d) => d.status);
    expect(attempts[0]).toBe(503);
    expect(attempts.at(-1)).toBe(200);

    // Publishing the same message again (a relay that crashed before marking it sent) is deduplicated.
    const plane = await rt.services.planes.forTenant(tenant);
    await plane.db.update(plane.tables.outbox).set({ sentAt: null, availableAt: new Date(0) }).where(eq(plane.tables.outbox.topic, 'parse'));
    rt.driver?.kick(tenant);
    await rt.driver?.idle();
    const again = qstash.published.filter((p) => p.messageId === parseMsg?.messageId);
    expect(again.length).toBeGreaterThan(1);
    expect(again.slice(1).every((p) => p.deduplicated)).toBe(true);
    await qstash.idle();
    expect(qstash.deliveries.filter((d) => d.messageId === parseMsg?.messageId && d.status === 200)).toHaveLength(1);
  });

  it('dead-letters a message whose retries ran out (QStash failure callback)', async () => {
    const files: TestFile[] = [{ file_id: 'q3', filename: 'q3.txt', mime_type: 'text/plain', bytes: text('Force majeure excuses performance.\n') }];
    // Intake refuses a suspended tenant, so submit first and suspend before the relay runs:
    // every delivery then answers 503 until QStash gives up.
    const res = await rt.app.request(`/api/v1/ingest/${tenant}/batch`, { method: 'POST', body: batchForm(manifestFor(tenant, 'qs-3', files), files), headers: { authorization: `Bearer ${token}` } });
    const doc = (await res.json()).receipts[0].doc_id;
    await rt.services.control.update(tenants).set({ state: 'SUSPENDED' }).where(eq(tenants.id, tenant));
    rt.driver?.kick(tenant);
    await rt.driver?.idle();
    await qstash.idle();
    const letters = await rt.services.control.select().from(deadLetters).where(eq(deadLetters.tenantId, tenant));
    expect(letters.some((l) => l.payload.doc_id === doc && l.topic === 'parse')).toBe(true);
    await rt.services.control.update(tenants).set({ state: 'ACTIVE' }).where(eq(tenants.id, tenant));
  });
});
