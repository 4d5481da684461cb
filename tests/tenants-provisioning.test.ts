import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyLogChain } from '../shared/audit/queries';
import { ManualClock } from '../shared/clock';
import { rowsOf } from '../shared/db/migrate';
import { tenantSchemaName } from '../shared/ids';
import { tenantSelector, type CloudProviderKind } from '../shared/tenants/cloud/cloud-provider';
import { createLocalCloudProvider } from '../shared/tenants/cloud/local';
import { getTenantStatus, type TenantStatusView } from '../shared/tenants/lifecycle';
import { startHetznerDouble, type HetznerDouble } from './doubles/hetzner/hetzner-double';
import { startRuntime, uniqueName, type TestRuntime } from './helpers/runtime';
import { closedPort, drive, eventsOf, fastHetzner, jsonApi, startOwnerReceiver, stepOf, type OwnerReceiver } from './tenants-harness';

/**
 * Provisioning through the queue (control outbox → local relay → /steps/provision) with the
 * Hetzner driver against the API double (DNS zone included), on PGlite. The health step calls
 * the tenant's health route over real HTTP (this runtime's loopback listener). Faults are
 * injected at the double's wire, in the real storage and in the health route's address.
 */
const ZONE = 'frostbyte.test';
const TENANT_DOMAIN = `pipeline.${ZONE}`;

describe('tenant provisioning with the Hetzner driver', () => {
  let rt: TestRuntime;
  let double: HetznerDouble;
  let owner: OwnerReceiver;
  let admin: string;
  let wiredKind: CloudProviderKind;
  let wiredZone: string | undefined;
  const cloudClock = new ManualClock(new Date('2026-03-01T00:00:00Z'));
  const api = jsonApi({ request: (p, i) => rt.app.request(p, i) }, () => admin);

  beforeAll(async () => {
    double = await startHetznerDouble({ clock: cloudClock, actionPolls: 2, zones: [ZONE] });
    owner = await startOwnerReceiver();
    rt = await startRuntime('pglite', {
      STEP_RETRY_BASE_MS: '1',
      STEP_MAX_ATTEMPTS: '3',
      PLATFORM_OWNER_WEBHOOK_URL: owner.url,
      HCLOUD_TOKEN: double.token,
      HCLOUD_ENDPOINT: double.url,
      HCLOUD_DNS_ZONE: ZONE,
      TENANT_DOMAIN,
      TENANT_HEALTH_ATTEMPTS: '3',
      TENANT_HEALTH_BACKOFF_MS: '1',
    });
    wiredKind = rt.services.cloud.kind;
    wiredZone = rt.services.cloud.dnsZone;
    // Same driver and double, with waits on a ManualClock so retries and action polls are instant.
    rt.services.cloud = fastHetzner(double, cloudClock, { dnsZone: ZONE });
    admin = await rt.token(null, ['admin']);
  });
  afterAll(async () => {
    await rt?.close();
    await double?.close();
    await owner?.close();
  });
  afterEach(() => double.clearFaults());

  const newId = (base: string) => uniqueName(base).slice(0, 30);
  const status = async (id: string): Promise<TenantStatusView> => {
    const res = await api('GET', `/api/v1/admin/tenants/${id}`);
    expect(res.status).toBe(200);
    return res.body as unknown as TenantStatusView;
  };
  const settled = (id: string) => async () => (await getTenantStatus(rt.services, id)).run?.status !== 'running';
  const create = async (id: string) => {
    const res = await api('POST', '/api/v1/admin/tenants', { tenant_id: id });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res;
  };
  const schemaExists = async (id: string) =>
    rowsOf<{ n: number }>(await rt.services.control.execute(sql`SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = ${tenantSchemaName(id)}`))[0].n > 0;
  const bucketDir = (id: string) => join(rt.dataDir, 'objects', `${rt.services.env.S3_BUCKET_PREFIX}${id}`);

  it('wires the Hetzner driver when HCLOUD_TOKEN is set, with DNS in HCLOUD_DNS_ZONE', () => {
    expect(wiredKind).toBe('hetzner');
    expect(wiredZone).toBe(ZONE);
  });

  /** The double's kinds, as the provisioning step that makes each and the id it records. */
  const MADE_BY: Record<string, [step: string, key: string]> = {
    network: ['network', 'network_id'], firewall: ['firewall', 'firewall_id'], server: ['server', 'server_id'], volume: ['volume', 'volume_id'], rrset: ['dns', 'dns_record_id'],
  };
  const ALL_KINDS = ['firewall', 'network', 'rrset', 'server', 'volume'];

  it('provisions through the queue: network, firewall, server, volume, storage, dns, health over HTTP, then ACTIVE with every resource labelled', async () => {
    const id = newId('newco');
    const vendor = await rt.token(id, ['ingest']);
    const accepted = await create(id);
    expect(accepted.body).toMatchObject({ tenant_id: id, state: 'PROVISIONING', run: { kind: 'provision', status: 'running', stuck: false } });
    expect((accepted.body.steps as { name: string; status: string }[]).map((s) => [s.name, s.status])).toEqual([
      ['network', 'pending'], ['firewall', 'pending'], ['server', 'pending'], ['volume', 'pending'], ['storage', 'pending'], ['dns', 'pending'], ['health', 'pending'],
    ]);
    // Not serving yet: vendor requests wait with 503.
    const early = await rt.app.request(`/api/v1/ingest/${id}/batch/none`, { headers: { authorization: `Bearer ${vendor}` } });
    expect(early.status).toBe(503);

    await drive(rt.services, settled(id));
    const s = await status(id);
    expect(s.state).toBe('ACTIVE');
    expect(s.stuck).toBe(false);
    expect(s.run).toMatchObject({ kind: 'provision', status: 'succeeded' });
    for (const step of s.steps) {
      expect(step).toMatchObject({ status: 'succeeded', attempts: 1, error: null });
      expect(step.started_at && step.finished_at).toBeTruthy();
    }
    const resources = double.list(tenantSelector(id));
    expect(resources.map((r) => r.kind).sort()).toEqual(ALL_KINDS);
    for (const r of resources) {
      expect(r.labels).toMatchObject({ tenant_id: id, managed_by: 'frostbyte' });
      const [step, key] = MADE_BY[r.kind];
      expect(String(r.id)).toBe(stepOf(s, step).resource_ids[key]);
    }
    // The tenant's host points at its server's public address.
    const serverIp = stepOf(s, 'server').resource_ids.public_ipv4;
    expect(serverIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(stepOf(s, 'dns').resource_ids).toEqual({ dns_record_id: `${id}.pipeline/A`, host: `${id}.${TENANT_DOMAIN}`, ipv4: serverIp });
    const rrset = await fetch(`${double.url}/zones/${ZONE}/rrsets/${id}.pipeline/A`, { headers: { authorization: `Bearer ${double.token}` } });
    expect(((await rrset.json()) as { rrset: { records: unknown } }).rrset.records).toEqual([{ value: serverIp, comment: null }]);
    expect(stepOf(s, 'volume').resource_ids.attached_to).toBe(stepOf(s, 'server').resource_ids.server_id);
    expect(stepOf(s, 'server').resource_ids.private_ip).toMatch(/^10\.0\.1\.\d+$/);
    expect(stepOf(s, 'storage').resource_ids).toMatchObject({ schema: tenantSchemaName(id), bucket: `frostbyte-${id}` });
    expect(s.storage).toMatchObject({ schema: tenantSchemaName(id), bucket: `frostbyte-${id}` });
    // cloud-init reached the API with the server.
    const createServer = double.requests.find((r) => r.method === 'POST' && r.route === '/servers' && (r.body as { name?: string }).name === `tenant-${id}-data-1`);
    expect((createServer?.body as { user_data: string }).user_data).toContain(`hostname: tenant-${id}`);

    const events = await eventsOf(rt.services, id);
    expect(events.map((e) => e.event_type)).toEqual([
      'TENANT_CREATED', 'TENANT_PROVISION_STARTED',
      ...Array(7).fill('TENANT_PROVISION_STEP_COMPLETED'),
      'TENANT_PROVISIONED',
    ]);
    expect(events.filter((e) => e.event_type === 'TENANT_PROVISION_STEP_COMPLETED').map((e) => e.details.step)).toEqual(['network', 'firewall', 'server', 'volume', 'storage', 'dns', 'health']);
    // The readiness check went over HTTP to this process's own listener, answered at once.
    const health = events.find((e) => e.event_type === 'TENANT_PROVISION_STEP_COMPLETED' && e.details.step === 'health');
    expect(health?.details).toMatchObject({ url: `${await rt.services.selfUrl?.()}/api/v1/tenants/${id}/health`, attempts: 1 });
    expect(health?.details.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    expect(events[0].actor).toBe('test-user');
    expect((await verifyLogChain(rt.services.control, id)).valid).toBe(true);

    // Serving now: the vendor's request reaches its data plane.
    const ready = await rt.app.request(`/api/v1/ingest/${id}/batch/none`, { headers: { authorization: `Bearer ${vendor}` } });
    expect(ready.status).toBe(404);
    // A second create of the same id is refused.
    expect((await api('POST', '/api/v1/admin/tenants', { tenant_id: id })).status).toBe(409);
  });

  /** Drives the run until its storage step is done: what follows (dns, health) has not run yet. */
  const untilStorage = (id: string) => drive(rt.services, async () => stepOf(await getTenantStatus(rt.services, id), 'storage').status === 'succeeded');
  let unreachable = '';

  const faults: { step: string; what: string; inject: (id: string) => Promise<void> | void; fix?: (id: string) => Promise<void> | void; code: string }[] = [
    { step: 'network', what: 'quota', inject: () => double.failNth({ method: 'POST', route: '/networks', status: 403, code: 'resource_limit_exceeded', message: 'network limit reached' }), code: 'resource_limit_exceeded' },
    { step: 'firewall', what: 'quota', inject: () => double.failNth({ method: 'POST', route: '/firewalls', status: 403, code: 'resource_limit_exceeded', message: 'firewall limit reached' }), code: 'resource_limit_exceeded' },
    { step: 'server', what: 'sold out', inject: () => double.failNth({ method: 'POST', route: '/servers', status: 412, code: 'resource_unavailable', message: 'cx22 is sold out in nbg1' }), code: 'resource_unavailable' },
    { step: 'volume', what: 'attach failed', inject: () => double.failActions('attach_volume', { code: 'volume_attach_failed', message: 'attaching the volume failed' }), code: 'volume_attach_failed' },
    {
      step: 'storage',
      what: 'migration',
      // A migration that cannot apply: a table of the tenant's schema already exists.
      inject: async (id) => {
        await rt.services.control.execute(sql.raw(`CREATE SCHEMA "${tenantSchemaName(id)}"`));
        await rt.services.control.execute(sql.raw(`CREATE TABLE "${tenantSchemaName(id)}"."batches" (stray int)`));
      },
      fix: async (id) => {
        await rt.services.control.execute(sql.raw(`DROP SCHEMA "${tenantSchemaName(id)}" CASCADE`));
      },
      code: 'sqlstate_42P07',
    },
    {
      step: 'dns',
      what: 'zone not primary',
      inject: () => double.failNth({ method: 'POST', route: '/zones/{id_or_name}/rrsets', status: 422, code: 'incorrect_zone_mode', message: "This operation is not supported for this Zone's mode." }),
      code: 'incorrect_zone_mode',
    },
    {
      step: 'health',
      what: 'route answers not ready',
      // The bucket disappears between the storage step and the readiness check: the tenant's
      // health route answers 503 with its storage check failed.
      inject: async (id) => {
        await untilStorage(id);
        await (await rt.services.planes.forTenant(id)).store.destroy();
      },
      fix: async (id) => (await rt.services.planes.forTenant(id)).store.ensure(),
      code: 'tenant_not_ready',
    },
    {
      step: 'health',
      what: 'route unreachable',
      // The tenant's public URL points where nothing listens.
      inject: async (id) => {
        await untilStorage(id);
        unreachable = `http://127.0.0.1:${await closedPort()}`;
        rt.services.env.TENANT_PUBLIC_URL = unreachable;
      },
      fix: () => {
        delete rt.services.env.TENANT_PUBLIC_URL;
      },
      code: 'tenant_unreachable',
    },
  ];

  it.each(faults)('a failure at $step ($what) leaves the tenant FAILED and notifies; resume finishes the job without duplicates', async ({ step, what, inject, fix, code }) => {
    const id = newId(`f-${step}`);
    if (step !== 'health') await inject(id);
    await create(id);
    if (step === 'health') await inject(id);
    await drive(rt.services, settled(id));

    const failed = await status(id);
    expect(failed.state).toBe('FAILED');
    expect(failed.run).toMatchObject({ status: 'failed' });
    const order = failed.steps.map((s) => s.name);
    const at = order.indexOf(step);
    expect(failed.steps.slice(0, at).every((s) => s.status === 'succeeded')).toBe(true);
    expect(stepOf(failed, step)).toMatchObject({ status: 'failed' });
    expect(stepOf(failed, step).error).toContain(code);
    if (what === 'route answers not ready') expect(stepOf(failed, step).error).toMatch(new RegExp(`/api/v1/tenants/${id}/health: HTTP 503 not_ready \\(storage failed\\)`));
    if (what === 'route unreachable') expect(stepOf(failed, step).error).toContain(`GET ${unreachable}/api/v1/tenants/${id}/health: no answer (ECONNREFUSED)`);
    expect(failed.steps.slice(at + 1).every((s) => s.status === 'pending' && s.attempts === 0)).toBe(true);
    const failure = (await eventsOf(rt.services, id)).find((e) => e.event_type === 'TENANT_PROVISION_FAILED');
    expect(failure?.details).toMatchObject({ step, reason: 'STEP_FAILED', error_code: code, owner_notification: 'queued' });
    await drive(rt.services, async () => owner.received.some((n) => n.tenant_id === id));
    expect(owner.received.find((n) => n.tenant_id === id)).toMatchObject({ type: 'tenant.provision_failed', step, run_id: failed.run?.run_id });
    expect((await status(id)).notifications).toMatchObject([{ type: 'tenant.provision_failed', status: 'delivered' }]);

    double.clearFaults();
    await fix?.(id);
    const resumed = await api('POST', `/api/v1/admin/tenants/${id}/resume`);
    expect(resumed.status).toBe(202);
    expect(resumed.body).toMatchObject({ state: 'PROVISIONING', from_step: step });
    await drive(rt.services, settled(id));
    const done = await status(id);
    expect(done.state).toBe('ACTIVE');
    expect(done.steps.every((s) => s.status === 'succeeded')).toBe(true);
    expect(stepOf(done, step).attempts).toBe(step === 'health' ? 3 + 1 : 2);
    const kinds = double.list(tenantSelector(id)).map((r) => r.kind).sort();
    expect(kinds).toEqual(ALL_KINDS);
    const types = (await eventsOf(rt.services, id)).map((e) => e.event_type);
    expect(types).toContain('TENANT_PROVISION_RETRY');
    expect(types[types.length - 1]).toBe('TENANT_PROVISIONED');
  });

  it('rolls back after a failure: deletes exactly what was created, newest first, leaves the tenant FAILED, then abandon ends DEPROVISIONED', async () => {
    const id = newId('rb');
    await create(id);
    await drive(rt.services, async () => stepOf(await getTenantStatus(rt.services, id), 'storage').status === 'succeeded');
    await (await rt.services.planes.forTenant(id)).store.destroy();
    await drive(rt.services, settled(id));
    expect((await status(id)).state).toBe('FAILED');
    // The bucket is gone already; make it exist again so rollback must remove it.
    await (await rt.services.planes.forTenant(id)).store.ensure();
    expect(await schemaExists(id)).toBe(true);
    expect(existsSync(bucketDir(id))).toBe(true);
    const made = double.list(tenantSelector(id));
    expect(made).toHaveLength(5);

    const requestsBefore = double.requests.length;
    await drive(rt.services, async () => owner.received.some((n) => n.tenant_id === id && n.type === 'tenant.provision_failed'));
    // The owner's endpoint fails once: the notification is retried by the queue.
    owner.failNext(1);
    const rolled = await api('POST', `/api/v1/admin/tenants/${id}/rollback`);
    expect(rolled.status).toBe(202);
    expect(rolled.body).toMatchObject({ steps: ['health', 'dns', 'storage', 'volume', 'server', 'firewall', 'network'] });
    await drive(rt.services, settled(id));

    const after = await status(id);
    expect(after.state).toBe('FAILED');
    expect(after.run).toMatchObject({ kind: 'rollback', status: 'succeeded' });
    expect(after.steps.every((s) => s.status === 'rolled_back')).toBe(true);
    expect(double.list(tenantSelector(id))).toEqual([]);
    expect(await schemaExists(id)).toBe(false);
    expect(existsSync(bucketDir(id))).toBe(false);
    // Deletes went out in reverse order of creation: DNS record, volume (detached first), server, firewall, network.
    const deletes = double.requests.slice(requestsBefore).filter((r) => r.method === 'DELETE' || r.route.endsWith('/detach'));
    expect(deletes.map((r) => `${r.method} ${r.route}`)).toEqual([
      'DELETE /zones/{id_or_name}/rrsets/{rr_name}/{rr_type}', 'POST /volumes/{id}/actions/detach', 'DELETE /volumes/{id}', 'DELETE /servers/{id}', 'DELETE /firewalls/{id}', 'DELETE /networks/{id}',
    ]);
    const byKind = Object.fromEntries(made.map((r) => [r.kind, String(r.id)]));
    expect(deletes[0].path).toBe(`/zones/${ZONE}/rrsets/${byKind.rrset}`);
    expect(deletes.slice(1).map((r) => r.path.split('/')[2])).toEqual([byKind.volume, byKind.volume, byKind.server, byKind.firewall, byKind.network]);

    const events = await eventsOf(rt.services, id);
    const rollback = events.find((e) => e.event_type === 'TENANT_ROLLED_BACK');
    expect(rollback?.actor).toBe('test-user');
    expect(rollback?.details).toMatchObject({ status: 'FAILED', remaining: [], owner_notification: 'queued' });
    expect((rollback?.details.deleted as { step: string }[]).map((d) => d.step)).toEqual(['health', 'dns', 'storage', 'volume', 'server', 'firewall', 'network']);
    await drive(rt.services, async () => owner.received.some((n) => n.tenant_id === id && n.type === 'tenant.rolled_back'));
    expect((await status(id)).notifications.find((n) => n.type === 'tenant.rolled_back')).toMatchObject({ status: 'delivered', attempts: 2, last_error: null });

    // Rolling back again is allowed (nothing left to delete); abandon gives the id up for good.
    const abandoned = await api('POST', `/api/v1/admin/tenants/${id}/abandon`);
    expect(abandoned.status).toBe(202);
    await drive(rt.services, settled(id));
    expect((await status(id)).state).toBe('DEPROVISIONED');
    const last = (await eventsOf(rt.services, id)).at(-1);
    expect(last).toMatchObject({ event_type: 'TENANT_DEPROVISIONED', details: { reason: 'abandon', remaining: [] } });
    expect((await verifyLogChain(rt.services.control, id)).valid).toBe(true);
  });

  it('an action that stays running times out, is retried by the queue, and finishes once the cloud does', async () => {
    const id = newId('slow');
    double.stallActions('create_server');
    await create(id);
    await drive(rt.services, async () => stepOf(await getTenantStatus(rt.services, id), 'server').attempts >= 1 && stepOf(await getTenantStatus(rt.services, id), 'server').status === 'pending');
    const waiting = await status(id);
    expect(waiting.state).toBe('PROVISIONING');
    expect(stepOf(waiting, 'server').error).toContain('action_timeout');
    const retry = (await eventsOf(rt.services, id)).find((e) => e.event_type === 'TENANT_PROVISION_RETRY');
    expect(retry?.details).toMatchObject({ step: 'server', trigger: 'retryable_error', error_code: 'action_timeout', attempt: 1 });

    double.clearFaults();
    await drive(rt.services, settled(id));
    const done = await status(id);
    expect(done.state).toBe('ACTIVE');
    expect(stepOf(done, 'server').attempts).toBe(2);
    expect(double.list(tenantSelector(id)).filter((r) => r.kind === 'server')).toHaveLength(1);
  });

  it('an action that never finishes fails the step after the last attempt and is reported', async () => {
    const id = newId('stall');
    double.stallActions('create_volume');
    await create(id);
    await drive(rt.services, settled(id));
    const failed = await status(id);
    expect(failed.state).toBe('FAILED');
    expect(stepOf(failed, 'volume')).toMatchObject({ status: 'failed', attempts: 3 });
    expect(stepOf(failed, 'volume').error).toContain('action_timeout');
    await drive(rt.services, async () => owner.received.some((n) => n.tenant_id === id));
    expect(owner.received.find((n) => n.tenant_id === id)).toMatchObject({ type: 'tenant.provision_failed', step: 'volume' });

    double.clearFaults();
    expect((await api('POST', `/api/v1/admin/tenants/${id}/resume`)).status).toBe(202);
    await drive(rt.services, settled(id));
    expect((await status(id)).state).toBe('ACTIVE');
    expect(double.list(tenantSelector(id)).filter((r) => r.kind === 'volume')).toHaveLength(1);
  });

  it('429 rate limits: waits within the driver, and past its attempts the queue retries the step', async () => {
    const id = newId('rate');
    // Five 429s exhaust the driver's own attempts on one delivery; the next delivery succeeds.
    double.rateLimitNth({ method: 'POST', route: '/servers', times: 5, resetInSeconds: 2 });
    double.rateLimitNth({ method: 'POST', route: '/firewalls', times: 1, resetInSeconds: 1 });
    const before = double.requests.length;
    await create(id);
    await drive(rt.services, settled(id));
    const s = await status(id);
    expect(s.state).toBe('ACTIVE');
    expect(stepOf(s, 'firewall').attempts).toBe(1);
    expect(stepOf(s, 'server').attempts).toBe(2);
    const retry = (await eventsOf(rt.services, id)).find((e) => e.event_type === 'TENANT_PROVISION_RETRY');
    expect(retry?.details).toMatchObject({ step: 'server', error_code: 'rate_limit_exceeded' });
    // Injected 429s answer before the body is read, so the calls are told apart by time, not body.
    const posts = double.requests.slice(before).filter((r) => r.method === 'POST' && r.route === '/servers');
    expect(posts.map((r) => r.status)).toEqual([429, 429, 429, 429, 429, 201]);
  });

  it('refuses to tear down or resume cloud steps from a process without a cloud, instead of leaking them', async () => {
    const id = newId('nocloud');
    await create(id);
    await drive(rt.services, settled(id));
    const hetzner = rt.services.cloud;
    rt.services.cloud = createLocalCloudProvider();
    try {
      const res = await api('POST', `/api/v1/admin/tenants/${id}/deprovision`, { confirm: id });
      expect([res.status, res.body.code, res.body.step]).toEqual([409, 'CONFLICT', 'dns']);
    } finally {
      rt.services.cloud = hetzner;
    }
    expect((await status(id)).state).toBe('ACTIVE');
    expect(await schemaExists(id)).toBe(true);
    expect(double.list(tenantSelector(id))).toHaveLength(5);
  });

  it('lists the live resources by label and the storage with a readiness probe', async () => {
    const id = newId('res');
    await create(id);
    await drive(rt.services, settled(id));
    const res = await api('GET', `/api/v1/admin/tenants/${id}/resources`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cloud: 'hetzner', label_selector: `tenant_id=${id},managed_by=frostbyte`, health: { database: { status: 'ok' }, storage: { status: 'ok' } } });
    expect((res.body.resources as { kind: string }[]).map((r) => r.kind).sort()).toEqual(['dns_record', 'firewall', 'network', 'server', 'volume']);
  });
});
