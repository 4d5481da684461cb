import { eq, isNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetters } from '../shared/db/schema/control';
import { rowsOf } from '../shared/db/migrate';
import { tenantSchemaName } from '../shared/ids';
import { getBatchStatus } from '../shared/intake/batch-status';
import { sweepTenant } from '../shared/queue/sweeper';
import { getTenantStatus, type TenantStatusView } from '../shared/tenants/lifecycle';
import { batchForm, manifestFor, text, tinyPdf, type TestFile } from './helpers/batch';
import { startRuntime, uniqueName, type TestRuntime } from './helpers/runtime';
import { drive, eventsOf, jsonApi, stepOf } from './tenants-harness';

/**
 * The admin API on the embedded default (no cloud): who may call it, config narrowing, the
 * suspend kill switch, deprovisioning with confirmation. The pipeline runs (parser pool), but its
 * relay is driven by hand so queued work can be watched while the tenant is suspended.
 */
describe('tenant admin API', () => {
  let rt: TestRuntime;
  let admin: string;
  const api = jsonApi({ request: (p, i) => rt.app.request(p, i) }, () => admin);

  beforeAll(async () => {
    rt = await startRuntime('pglite', { STEP_RETRY_BASE_MS: '20' }, { pipeline: true });
    await rt.driver?.stop();
    admin = await rt.token(null, ['admin'], { sub: 'ops@frostbyte' });
  });
  afterAll(async () => rt?.close());

  const newId = (base: string) => uniqueName(base).slice(0, 30);
  const status = async (id: string) => (await api('GET', `/api/v1/admin/tenants/${id}`)).body as unknown as TenantStatusView;
  const settled = (id: string) => async () => (await getTenantStatus(rt.services, id)).run?.status !== 'running';
  const submit = (id: string, token: string, batchId: string, files: TestFile[], init: Partial<RequestInit> = {}) =>
    rt.app.request(`/api/v1/ingest/${id}/batch`, { method: 'POST', body: batchForm(manifestFor(id, batchId, files), files), headers: { authorization: `Bearer ${token}` }, ...init });

  it('the synchronous create records the same run and steps: cloud and DNS steps skipped, storage and health done', async () => {
    const id = await rt.tenant('sync');
    const s = await status(id);
    expect(s).toMatchObject({ state: 'ACTIVE', stuck: false, config_version: 1, run: { kind: 'provision', status: 'succeeded', requested_by: 'test' } });
    expect(s.steps.map((x) => [x.name, x.status])).toEqual([
      ['network', 'skipped'], ['firewall', 'skipped'], ['server', 'skipped'], ['volume', 'skipped'], ['storage', 'succeeded'], ['dns', 'skipped'], ['health', 'succeeded'],
    ]);
    expect(stepOf(s, 'storage').resource_ids).toMatchObject({ schema: tenantSchemaName(id), bucket: `frostbyte-${id}` });
    expect((await eventsOf(rt.services, id)).map((e) => e.event_type)).toEqual([
      'TENANT_CREATED', 'TENANT_PROVISION_STARTED', 'TENANT_PROVISION_STEP_COMPLETED', 'TENANT_PROVISION_STEP_COMPLETED', 'TENANT_PROVISIONED',
    ]);
  });

  it("the tenant health route checks that tenant's own database and bucket, and says nothing of others", async () => {
    const id = await rt.tenant('hl');
    const other = await rt.tenant('hlo');
    const get = async (tenant: string, host?: string) => {
      const res = await rt.app.request(`/api/v1/tenants/${tenant}/health`, { headers: host ? { host } : {} });
      return { status: res.status, cache: res.headers.get('cache-control'), body: (await res.json()) as Record<string, unknown> };
    };
    const ok = await get(id);
    expect(ok).toEqual({
      status: 200, cache: 'no-store',
      body: { tenant_id: id, status: 'ready', timestamp: expect.any(String), checks: { database: { status: 'ok', latency_ms: expect.any(Number) }, storage: { status: 'ok', latency_ms: expect.any(Number) } } },
    });
    // The same on the tenant's host; the host of another tenant does not reach it.
    expect((await get(id, `${id}.localhost:8080`)).status).toBe(200);
    expect(await get(id, `${other}.localhost:8080`)).toMatchObject({ status: 403, body: { code: 'TENANT_MISMATCH' } });
    expect(await get(newId('nobody'))).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect((await get('Not_A_Label')).status).toBe(404);

    // Break only this tenant's bucket, then its database: its route says which, without internals; the other tenant stays ready.
    await (await rt.services.planes.forTenant(id)).store.destroy();
    const noBucket = await get(id);
    expect(noBucket).toMatchObject({ status: 503, body: { tenant_id: id, status: 'not_ready', checks: { database: { status: 'ok' }, storage: { status: 'failed' } } } });
    expect(Object.keys(noBucket.body.checks as object)).toEqual(['database', 'storage']);
    expect(JSON.stringify(noBucket.body)).not.toMatch(/ENOENT|objects|frostbyte-|message/);
    await rt.services.control.execute(sql.raw(`DROP TABLE "${tenantSchemaName(id)}"."batches" CASCADE`));
    expect(await get(id)).toMatchObject({ status: 503, body: { checks: { database: { status: 'failed' }, storage: { status: 'failed' } } } });
    expect(await get(other)).toMatchObject({ status: 200, body: { tenant_id: other, status: 'ready' } });
  });

  it('creates through the API with a 202, provisions without a cloud, and lists by state', async () => {
    const id = newId('api');
    const res = await api('POST', '/api/v1/admin/tenants', { tenant_id: id, config: { retention_days: 30 } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ tenant_id: id, state: 'PROVISIONING', config: { retention_days: 30 } });
    await drive(rt.services, settled(id));
    expect((await status(id)).state).toBe('ACTIVE');
    expect((await eventsOf(rt.services, id))[0]).toMatchObject({ event_type: 'TENANT_CREATED', actor: 'ops@frostbyte' });

    const other = await rt.tenant('lst');
    expect((await api('POST', `/api/v1/admin/tenants/${other}/suspend`, { reason: 'unpaid invoice' })).status).toBe(200);
    const suspended = await api('GET', '/api/v1/admin/tenants?state=SUSPENDED');
    const ids = (suspended.body.tenants as { tenant_id: string; state: string }[]).map((t) => t.tenant_id);
    expect(ids).toContain(other);
    expect(ids).not.toContain(id);
    const active = await api('GET', '/api/v1/admin/tenants?state=ACTIVE');
    expect((active.body.tenants as { tenant_id: string }[]).map((t) => t.tenant_id)).toContain(id);
    expect((await api('GET', '/api/v1/admin/tenants?state=SLEEPING')).status).toBe(400);
    const paged = await api('GET', '/api/v1/admin/tenants?limit=1');
    expect(paged.body.tenants).toHaveLength(1);
    expect(paged.body.next_cursor).toBeTruthy();
  });

  it('refuses tokens without the admin scope, tenant tokens, and answers 404 for tenants that do not exist', async () => {
    const id = await rt.tenant('auth');
    const routes: [string, string, unknown?][] = [
      ['POST', '/api/v1/admin/tenants', { tenant_id: newId('x') }],
      ['GET', '/api/v1/admin/tenants'],
      ['GET', `/api/v1/admin/tenants/${id}`],
      ['GET', `/api/v1/admin/tenants/${id}/resources`],
      ['POST', `/api/v1/admin/tenants/${id}/resume`],
      ['POST', `/api/v1/admin/tenants/${id}/rollback`],
      ['POST', `/api/v1/admin/tenants/${id}/suspend`],
      ['POST', `/api/v1/admin/tenants/${id}/resume-service`],
      ['POST', `/api/v1/admin/tenants/${id}/deprovision`, { confirm: id }],
      ['POST', `/api/v1/admin/tenants/${id}/abandon`],
      ['PATCH', `/api/v1/admin/tenants/${id}/config`, { retention_days: 1 }],
    ];
    const tenantToken = await rt.token(id, ['ingest', 'query', 'audit']);
    for (const [method, path, body] of routes) {
      const anonymous = await rt.app.request(path, { method });
      expect(anonymous.status, `${method} ${path}`).toBe(401);
      const refused = await api(method, path, body, tenantToken);
      expect([refused.status, refused.body.code], `${method} ${path}`).toEqual([403, 'INSUFFICIENT_PERMISSIONS']);
    }
    // Nothing happened to the tenant.
    expect((await status(id)).state).toBe('ACTIVE');

    const missing = newId('nobody');
    for (const [method, path, body] of routes.slice(2)) {
      const res = await api(method, path.replace(id, missing), body === undefined ? undefined : JSON.parse(JSON.stringify(body).replace(id, missing)));
      expect([res.status, res.body.code], `${method} ${path}`).toEqual([404, 'NOT_FOUND']);
    }
    expect((await api('POST', '/api/v1/admin/tenants', { tenant_id: 'Not_A_Label' })).status).toBe(400);
    expect((await api('POST', '/api/v1/admin/tenants', 'not json')).status).toBe(400);
    expect((await api('POST', `/api/v1/admin/tenants/${id}/resume`)).body).toMatchObject({ code: 'CONFLICT', state: 'ACTIVE' });
  });

  it('config narrows the platform: MIME allowlist, limits; config_version and TENANT_CONFIG_UPDATED on change only', async () => {
    const id = await rt.tenant('cfg');
    const vendor = await rt.token(id, ['ingest']);
    const set = await api('PATCH', `/api/v1/admin/tenants/${id}/config`, { mime_allowlist: ['application/pdf', 'TEXT/CSV'], max_files_per_batch: 5 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ config_version: 2, config: { mime_allowlist: ['application/pdf', 'text/csv'], max_files_per_batch: 5 }, changed: ['mime_allowlist', 'max_files_per_batch'] });

    // Intake reads it on the next request.
    const files: TestFile[] = [
      { file_id: 'pdf', filename: 'a.pdf', mime_type: 'application/pdf', bytes: tinyPdf() },
      { file_id: 'txt', filename: 'b.txt', mime_type: 'text/plain', bytes: text('Plain notes are not on this tenant\'s list.\n') },
    ];
    const receipt = await (await submit(id, vendor, 'cfg-1', files)).json();
    expect(receipt).toMatchObject({ accepted: 1, rejected: 1 });
    expect(receipt.rejected_files[0]).toMatchObject({ file_id: 'txt', reason: 'UNSUPPORTED_FORMAT' });

    const widen = await api('PATCH', `/api/v1/admin/tenants/${id}/config`, { mime_allowlist: ['application/pdf', 'application/x-msdownload'] });
    expect(widen.status).toBe(400);
    expect(widen.body).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'mime_allowlist' }] });
    expect(String((widen.body.errors as { message: string }[])[0].message)).toContain('application/x-msdownload');
    expect((await api('PATCH', `/api/v1/admin/tenants/${id}/config`, { max_file_size_mb: rt.services.env.MAX_FILE_SIZE_MB + 1 })).status).toBe(400);
    expect((await api('PATCH', `/api/v1/admin/tenants/${id}/config`, { max_files_per_batch: 0 })).status).toBe(400);
    expect((await api('PATCH', `/api/v1/admin/tenants/${id}/config`, { colour: 'blue' })).status).toBe(400);

    const same = await api('PATCH', `/api/v1/admin/tenants/${id}/config`, { max_files_per_batch: 5 });
    expect(same.body).toMatchObject({ config_version: 2, changed: [] });
    const unset = await api('PATCH', `/api/v1/admin/tenants/${id}/config`, { mime_allowlist: null, retention_days: 90 });
    expect(unset.body).toMatchObject({ config_version: 3, config: { max_files_per_batch: 5, retention_days: 90 } });
    expect((unset.body.config as Record<string, unknown>).mime_allowlist).toBeUndefined();

    const updates = (await eventsOf(rt.services, id)).filter((e) => e.event_type === 'TENANT_CONFIG_UPDATED');
    expect(updates.map((e) => e.details.config_version)).toEqual([2, 3]);
    expect(updates[1]).toMatchObject({ actor: 'ops@frostbyte', details: { changes: { mime_allowlist: { from: ['application/pdf', 'text/csv'], to: null }, retention_days: { from: null, to: 90 } } } });

    // A create with a widening config is refused and makes nothing.
    const bad = newId('badcfg');
    expect((await api('POST', '/api/v1/admin/tenants', { tenant_id: bad, config: { mime_allowlist: ['video/mp4'] } })).status).toBe(400);
    expect((await api('GET', `/api/v1/admin/tenants/${bad}`)).status).toBe(404);
  });

  it('suspend is a kill switch: new requests get 403 at once, an in-flight upload completes, queued work waits; resume-service lets it continue', async () => {
    const id = await rt.tenant('kill');
    const vendor = await rt.token(id, ['ingest', 'query']);
    const files: TestFile[] = [{ file_id: 'note', filename: 'note.txt', mime_type: 'text/plain', bytes: text('Payment is due within thirty days.\n') }];

    // An upload whose body arrives in two halves, the second only after the suspension.
    const form = new Response(batchForm(manifestFor(id, 'inflight', files), files));
    const contentType = form.headers.get('content-type') ?? '';
    const bytes = new Uint8Array(await form.arrayBuffer());
    let releaseSecondHalf = () => {};
    const secondHalf = new Promise<void>((resolve) => (releaseSecondHalf = resolve));
    let firstHalfRead = () => {};
    const firstHalf = new Promise<void>((resolve) => (firstHalfRead = resolve));
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        pulls++;
        if (pulls === 1) {
          controller.enqueue(bytes.slice(0, bytes.length >> 1));
          firstHalfRead();
        } else {
          await secondHalf;
          controller.enqueue(bytes.slice(bytes.length >> 1));
          controller.close();
        }
      },
      // No read-ahead: the first pull comes from the intake reading the body, after the request
      // passed authentication, so "first half read" means the upload is really in flight.
    }, { highWaterMark: 0 });
    const inflight = rt.app.request(`/api/v1/ingest/${id}/batch`, {
      method: 'POST', body, headers: { authorization: `Bearer ${vendor}`, 'content-type': contentType }, duplex: 'half',
    } as RequestInit);
    await firstHalf;

    const suspended = await api('POST', `/api/v1/admin/tenants/${id}/suspend`, { reason: 'security review' });
    expect(suspended.status).toBe(200);
    expect(suspended.body).toMatchObject({ state: 'SUSPENDED', changed: true });
    const returnedAt = Date.now();
    const refused = await submit(id, vendor, 'after-suspend', files);
    expect(Date.now() - returnedAt).toBeLessThan(1000);
    expect([refused.status, (await refused.json()).code]).toEqual([403, 'TENANT_SUSPENDED']);
    const statusRead = await rt.app.request(`/api/v1/ingest/${id}/batch/inflight`, { headers: { authorization: `Bearer ${vendor}` } });
    expect(statusRead.status).toBe(403);

    releaseSecondHalf();
    const done = await inflight;
    expect(done.status).toBe(202);
    expect(await done.json()).toMatchObject({ batch_id: 'inflight', accepted: 1 });

    // Its parse message is queued; delivering it now meets a suspended tenant and waits.
    const plane = await rt.services.planes.forTenant(id);
    await sweepTenant(rt.services, id);
    const waiting = await plane.db.select().from(plane.tables.outbox).where(isNull(plane.tables.outbox.sentAt));
    expect(waiting).toHaveLength(1);
    expect(waiting[0].lastError).toContain('503');
    expect((await getBatchStatus(plane, 'inflight')).files[0].status).toBe('received');
    expect(await rt.services.control.select().from(deadLetters).where(eq(deadLetters.tenantId, id))).toEqual([]);

    const resumed = await api('POST', `/api/v1/admin/tenants/${id}/resume-service`);
    expect(resumed.body).toMatchObject({ state: 'ACTIVE', changed: true });
    const until = Date.now() + 30_000;
    while ((await getBatchStatus(plane, 'inflight')).status === 'processing') {
      if (Date.now() > until) throw new Error('queued work did not continue after resume-service');
      await sweepTenant(rt.services, id);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await getBatchStatus(plane, 'inflight')).toMatchObject({ status: 'completed', files: [{ status: 'indexed' }] });
    expect((await rt.app.request(`/api/v1/ingest/${id}/batch/inflight`, { headers: { authorization: `Bearer ${vendor}` } })).status).toBe(200);

    const types = (await eventsOf(rt.services, id)).filter((e) => e.event_type === 'TENANT_SUSPENDED' || e.event_type === 'TENANT_RESUMED');
    expect(types.map((e) => [e.event_type, e.actor])).toEqual([['TENANT_SUSPENDED', 'ops@frostbyte'], ['TENANT_RESUMED', 'ops@frostbyte']]);
    expect(types[0].details.reason).toBe('security review');
    // Suspending twice is harmless; resume-service of an ACTIVE tenant changes nothing.
    expect((await api('POST', `/api/v1/admin/tenants/${id}/resume-service`)).body).toMatchObject({ changed: false });
  });

  it('deprovision refuses without the tenant id typed again, then removes the tenant for good', async () => {
    const id = await rt.tenant('bye');
    const vendor = await rt.token(id, ['ingest']);
    for (const body of [undefined, {}, { confirm: 'someone-else' }]) {
      const res = await api('POST', `/api/v1/admin/tenants/${id}/deprovision`, body);
      expect([res.status, res.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect((await status(id)).state).toBe('ACTIVE');

    const res = await api('POST', `/api/v1/admin/tenants/${id}/deprovision`, { confirm: id });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ state: 'DEPROVISIONING', steps: ['health', 'storage'] });
    expect((await rt.app.request(`/api/v1/ingest/${id}/batch/x`, { headers: { authorization: `Bearer ${vendor}` } })).status).toBe(404);
    await drive(rt.services, settled(id));
    const s = await status(id);
    expect(s).toMatchObject({ state: 'DEPROVISIONED', storage: null, run: { kind: 'deprovision', status: 'succeeded' } });
    const schemas = rowsOf<{ n: number }>(await rt.services.control.execute(sql`SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = ${tenantSchemaName(id)}`));
    expect(schemas[0].n).toBe(0);
    expect((await eventsOf(rt.services, id)).at(-1)).toMatchObject({ event_type: 'TENANT_DEPROVISIONED', actor: 'ops@frostbyte', details: { reason: 'deprovision' } });
    expect((await api('POST', `/api/v1/admin/tenants/${id}/suspend`)).status).toBe(409);
    expect((await rt.app.request(`/api/v1/tenants/${id}/health`)).status).toBe(404);
  });
});
