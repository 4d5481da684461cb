import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, isNull, like, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, type Clock } from '../shared/clock';
import { loadEnv } from '../shared/config/env';
import { controlOutbox } from '../shared/db/schema/control-operations';
import { silentLogger } from '../shared/log';
import { issueToken } from '../shared/auth/tokens';
import { tenantSelector } from '../shared/tenants/cloud/cloud-provider';
import { createHetznerCloudProvider } from '../shared/tenants/cloud/hetzner';
import { getTenantStatus, type TenantStatusView } from '../shared/tenants/lifecycle';
import { detectStuckRuns } from '../shared/tenants/orchestrator';
import { buildApi } from '../functions/api';
import { wireNode, type NodeRuntime } from '../functions/node/wire';
import { startHetznerDouble, type HetznerDouble } from './doubles/hetzner/hetzner-double';
import { runCli } from './helpers/server-process';
import { TEST_DATABASE_URL, uniqueName } from './helpers/runtime';
import { drive, eventsOf, fastHetzner, jsonApi, startOwnerReceiver, stepOf, type OwnerReceiver } from './tenants-harness';

/**
 * Provisioning on a PostgreSQL server, where the control plane outlives the process: a run
 * interrupted by a crash (between steps, or inside one) is finished by the next process; a run
 * past its deadline is reported; and the CLI drives the same lifecycle.
 */

interface Runtime extends NodeRuntime {
  app: ReturnType<typeof buildApi>;
  admin: string;
}

describe('tenant provisioning on PostgreSQL', () => {
  let double: HetznerDouble;
  let owner: OwnerReceiver;
  const cloudClock = new ManualClock(new Date('2026-03-01T00:00:00Z'));
  const prefix = `fbt_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const databaseUrl = (() => {
    const u = new URL(TEST_DATABASE_URL);
    u.pathname = `/${prefix}`;
    return u.toString();
  })();
  const dataDir = mkdtempSync(join(tmpdir(), 'frostbyte-tenants-'));
  const open: Runtime[] = [];
  const envFor = (extra: Record<string, string> = {}) => ({
    FROSTBYTE_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    TENANT_DATABASE_PREFIX: `${prefix}_`,
    STEP_RETRY_BASE_MS: '1',
    STEP_MAX_ATTEMPTS: '3',
    TENANT_HEALTH_BACKOFF_MS: '1',
    PLATFORM_OWNER_WEBHOOK_URL: owner.url,
    ...extra,
  });

  /** A process of the service on the shared database: its own pools, relay key and step routes. */
  async function startProcess(opts: { clock?: Clock; env?: Record<string, string>; cloud?: NodeRuntime['services']['cloud'] } = {}): Promise<Runtime> {
    let app: ReturnType<typeof buildApi> | null = null;
    const rt = await wireNode(loadEnv(envFor(opts.env)), {
      holder: 'test', log: silentLogger, clock: opts.clock, pglite: { inMemory: true },
      stepsFetch: async (url, init) => (app as ReturnType<typeof buildApi>).request(url, init),
    });
    app = buildApi(rt.services);
    rt.services.cloud = opts.cloud ?? fastHetzner(double, cloudClock);
    const { token } = await issueToken(rt.services.keys, rt.services.clock, rt.services.tokens, { sub: 'oncall', tenantId: null, scopes: ['admin'], ttlSeconds: 3600 });
    const runtime = { ...rt, app, admin: token };
    open.push(runtime);
    return runtime;
  }
  const apiOf = (rt: Runtime) => jsonApi({ request: (p, i) => rt.app.request(p, i) }, () => rt.admin);
  const settled = (rt: Runtime, id: string) => async () => (await getTenantStatus(rt.services, id)).run?.status !== 'running';
  const stepIs = (rt: Runtime, id: string, step: string, st: string) => async () => stepOf(await getTenantStatus(rt.services, id), step).status === st;
  const tenantDatabaseExists = async (id: string) => {
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    try {
      return (await admin`SELECT 1 FROM pg_database WHERE datname = ${`${prefix}_${id.replaceAll('-', '_')}`}`).length > 0;
    } finally {
      await admin.end();
    }
  };

  beforeAll(async () => {
    double = await startHetznerDouble({ clock: cloudClock, actionPolls: 2 });
    owner = await startOwnerReceiver();
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE "${prefix}"`);
    await admin.end();
  });
  afterEach(async () => {
    double.clearFaults();
    for (const rt of open.splice(0)) await rt.close();
  });
  afterAll(async () => {
    await double?.close();
    await owner?.close();
    const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    const dbs = await admin<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${`${prefix}%`}`;
    for (const { datname } of dbs) await admin.unsafe(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a crash between steps: the next process resumes where the run stopped, without redoing a step', async () => {
    const id = uniqueName('crash').slice(0, 30);
    const first = await startProcess();
    expect((await apiOf(first)('POST', '/api/v1/admin/tenants', { tenant_id: id })).status).toBe(202);
    await drive(first.services, stepIs(first, id, 'firewall', 'succeeded'));
    // The process dies: the server step's message is written but was never delivered.
    await first.close();
    open.splice(open.indexOf(first), 1);

    const second = await startProcess();
    const mid = (await apiOf(second)('GET', `/api/v1/admin/tenants/${id}`)).body as unknown as TenantStatusView;
    expect(mid.state).toBe('PROVISIONING');
    // No DNS zone configured here: the dns step is skipped.
    expect(mid.steps.map((s) => [s.name, s.status])).toEqual([
      ['network', 'succeeded'], ['firewall', 'succeeded'], ['server', 'pending'], ['volume', 'pending'], ['storage', 'pending'], ['dns', 'skipped'], ['health', 'pending'],
    ]);
    await drive(second.services, settled(second, id));
    const done = await getTenantStatus(second.services, id);
    expect(done.state).toBe('ACTIVE');
    expect(done.steps.map((s) => s.attempts)).toEqual([1, 1, 1, 1, 1, 0, 1]);
    expect(double.list(tenantSelector(id)).map((r) => r.kind).sort()).toEqual(['firewall', 'network', 'server', 'volume']);
    expect(await tenantDatabaseExists(id)).toBe(true);
    const steps = (await eventsOf(second.services, id)).filter((e) => e.event_type === 'TENANT_PROVISION_STEP_COMPLETED').map((e) => e.details.step);
    expect(steps).toEqual(['network', 'firewall', 'server', 'volume', 'storage', 'health']);
  });

  it('a crash inside a step: the server the dead process was creating is adopted, not made twice', async () => {
    const id = uniqueName('midstep').slice(0, 30);
    // This process's action polls can be made to hang forever, as if it died while waiting.
    const clockA = new ManualClock(new Date('2026-03-01T00:00:00Z'));
    let hang = false;
    const hanging = createHetznerCloudProvider({
      token: double.token, baseUrl: double.url, clock: clockA, random: () => 1,
      sleep: async (ms) => {
        clockA.advance(ms);
        if (hang) await new Promise<never>(() => {});
      },
    });
    const first = await startProcess({ cloud: hanging });
    await apiOf(first)('POST', '/api/v1/admin/tenants', { tenant_id: id });
    await drive(first.services, stepIs(first, id, 'firewall', 'succeeded'));
    hang = true;
    const serverName = `tenant-${id}-data-1`;
    void drive(first.services, async () => false).catch(() => {});
    const until = Date.now() + 10_000;
    while (!double.requests.some((r) => r.method === 'POST' && r.route === '/servers' && (r.body as { name?: string } | undefined)?.name === serverName)) {
      if (Date.now() > until) throw new Error('the server was never requested');
      await new Promise((r) => setTimeout(r, 10));
    }
    await first.close();
    open.splice(open.indexOf(first), 1);

    const second = await startProcess();
    const api = apiOf(second);
    const mid = (await api('GET', `/api/v1/admin/tenants/${id}`)).body as unknown as TenantStatusView;
    expect(stepOf(mid, 'server')).toMatchObject({ status: 'running', attempts: 1, finished_at: null });
    // An engineer cannot resume over a step that may still be running somewhere.
    expect((await api('POST', `/api/v1/admin/tenants/${id}/resume`)).body).toMatchObject({ code: 'CONFLICT', step: 'server' });
    // The dead process's claim on the message lapses (the relay's lease); the queue delivers it again.
    await second.services.control.update(controlOutbox).set({ availableAt: new Date() }).where(and(isNull(controlOutbox.sentAt), like(controlOutbox.dedupId, `prov:%`)));
    await drive(second.services, settled(second, id));
    const done = await getTenantStatus(second.services, id);
    expect(done.state).toBe('ACTIVE');
    expect(stepOf(done, 'server').attempts).toBe(2);
    expect(double.list(tenantSelector(id)).filter((r) => r.kind === 'server')).toHaveLength(1);
    const completed = (await eventsOf(second.services, id)).find((e) => e.event_type === 'TENANT_PROVISION_STEP_COMPLETED' && e.details.step === 'server');
    expect(completed?.details.created).toBe(false);
  });

  it('Scenario B: a run past its deadline is reported stuck once; the engineer lists resources, rolls back, nothing is left', async () => {
    const id = uniqueName('newco').slice(0, 30);
    // Two minutes behind the wall with a one-minute deadline: moving the clock to the wall makes the run overdue.
    const clock = new ManualClock(new Date(Date.now() - 2 * 60_000));
    const rt = await startProcess({ clock, env: { PROVISION_DEADLINE_MINUTES: '1' } });
    const api = apiOf(rt);
    double.stallActions('create_server');
    await api('POST', '/api/v1/admin/tenants', { tenant_id: id });
    // Without moving the clock, the server step times out once and its retry is not due yet.
    await drive(rt.services, async () => stepOf(await getTenantStatus(rt.services, id), 'server').attempts === 1 && (await getTenantStatus(rt.services, id)).steps[2].status === 'pending');
    expect((await api('GET', `/api/v1/admin/tenants/${id}`)).body).toMatchObject({ state: 'PROVISIONING', stuck: false });
    expect(await detectStuckRuns(rt.services)).toEqual([]);

    clock.set(new Date());
    const stuck = (await api('GET', `/api/v1/admin/tenants/${id}`)).body as unknown as TenantStatusView;
    expect(stuck).toMatchObject({ state: 'PROVISIONING', stuck: true, run: { status: 'running', stuck: true, stuck_reported_at: null } });
    expect(stepOf(stuck, 'server').error).toContain('action_timeout');
    expect((await api('GET', '/api/v1/admin/tenants?state=PROVISIONING')).body.tenants).toEqual(expect.arrayContaining([expect.objectContaining({ tenant_id: id, stuck: true })]));

    expect(await detectStuckRuns(rt.services)).toEqual([{ tenantId: id, runId: stuck.run?.run_id }]);
    expect(await detectStuckRuns(rt.services)).toEqual([]);
    const reports = (await eventsOf(rt.services, id)).filter((e) => e.details.reason === 'STUCK');
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ event_type: 'TENANT_PROVISION_FAILED', details: { tenant_state: 'PROVISIONING', step: 'server', kind: 'provision', owner_notification: 'queued' } });
    // The run's own deadline message comes due too, and finds it reported already.
    await drive(rt.services, async () => owner.received.some((n) => n.tenant_id === id && n.type === 'tenant.provision_stuck'), { clock });
    expect(owner.received.find((n) => n.tenant_id === id)).toMatchObject({ type: 'tenant.provision_stuck', step: 'server' });
    expect((await eventsOf(rt.services, id)).filter((e) => e.details.reason === 'STUCK')).toHaveLength(1);

    // What exists, by label: network, firewall and the server still being created; no storage yet.
    const resources = await api('GET', `/api/v1/admin/tenants/${id}/resources`);
    expect((resources.body.resources as { kind: string }[]).map((r) => r.kind).sort()).toEqual(['firewall', 'network', 'server']);
    expect(resources.body.storage).toBeNull();

    double.clearFaults();
    const rolled = await api('POST', `/api/v1/admin/tenants/${id}/rollback`);
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(202);
    await drive(rt.services, settled(rt, id), { clock });
    const after = await getTenantStatus(rt.services, id);
    expect(after).toMatchObject({ state: 'FAILED', stuck: false, run: { kind: 'rollback', status: 'succeeded' } });
    expect(double.list(tenantSelector(id))).toEqual([]);
    expect(await tenantDatabaseExists(id)).toBe(false);
    await drive(rt.services, async () => owner.received.some((n) => n.tenant_id === id && n.type === 'tenant.rolled_back'), { clock });
    const types = (await eventsOf(rt.services, id)).map((e) => e.event_type);
    expect(types.at(-1)).toBe('TENANT_ROLLED_BACK');
  });

  it('rollback on PostgreSQL drops the tenant database it created', async () => {
    const id = uniqueName('dropdb').slice(0, 30);
    const rt = await startProcess();
    const api = apiOf(rt);
    await api('POST', '/api/v1/admin/tenants', { tenant_id: id });
    await drive(rt.services, stepIs(rt, id, 'storage', 'succeeded'));
    expect(await tenantDatabaseExists(id)).toBe(true);
    await rt.services.planes.forTenant(id).then((p) => p.db.execute(sql.raw(`DROP TABLE "tenant_${id.replaceAll('-', '_')}"."batches" CASCADE`)));
    await drive(rt.services, settled(rt, id));
    expect((await getTenantStatus(rt.services, id)).state).toBe('FAILED');
    // The tenant's health route answered 503 with its database check failed.
    expect(stepOf(await getTenantStatus(rt.services, id), 'health').error).toMatch(/^tenant_not_ready: GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/tenants\/.+\/health: HTTP 503 not_ready \(database failed\)/);
    await api('POST', `/api/v1/admin/tenants/${id}/rollback`);
    await drive(rt.services, settled(rt, id));
    expect(await tenantDatabaseExists(id)).toBe(false);
    expect(double.list(tenantSelector(id))).toEqual([]);
  });

  it('the CLI: create offline, status table, config, suspend, list, deprovision only with the id typed again', async () => {
    const id = uniqueName('cli').slice(0, 30);
    const env = { ...envFor(), LOG_LEVEL: 'warn' };
    const created = await runCli(['tenant', 'create', id], env);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`tenant ${id} is ACTIVE`);
    expect(created.stderr).toMatch(/storage\s+succeeded/);
    // Offline: the health step reached this CLI process's own API on a loopback port.
    expect(created.stderr).toMatch(/health\s+succeeded/);

    // Status first: it must show the tenant before the suspend below lands.
    const status = await runCli(['tenant', 'status', id], env);
    const [config, suspend] = await Promise.all([
      runCli(['tenant', 'config', id, '--set', 'max_files_per_batch=10', '--set', 'mime_allowlist=application/pdf,text/plain'], env),
      runCli(['tenant', 'suspend', id, '--reason', 'cli test'], env),
    ]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^tenant ${id}  state ACTIVE`));
    expect(status.stdout).toMatch(/STEP\s+STATUS\s+ATTEMPTS\s+STARTED\s+FINISHED\s+RESOURCES\s+ERROR/);
    expect(status.stdout).toMatch(/network\s+skipped\s+0/);
    expect(status.stdout).toMatch(new RegExp(`storage\\s+succeeded\\s+1\\s+\\S+\\s+\\S+\\s+.*database=${prefix}_${id.replaceAll('-', '_')}`));
    expect(config.code, config.stderr).toBe(0);
    expect(config.stdout).toContain('config v2: changed mime_allowlist, max_files_per_batch');
    expect(suspend.stdout).toContain(`tenant ${id} is SUSPENDED`);

    const [list, refused] = await Promise.all([
      runCli(['tenant', 'list', '--state', 'SUSPENDED'], env),
      runCli(['tenant', 'deprovision', id, '--confirm', 'not-the-id'], env),
    ]);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+SUSPENDED\\s+v2`));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('VALIDATION_FAILED');
    expect(await tenantDatabaseExists(id)).toBe(true);

    const gone = await runCli(['tenant', 'deprovision', id, '--confirm', id], env);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toMatch(new RegExp(`^tenant ${id}  state DEPROVISIONED`));
    expect(gone.stdout).toMatch(/storage\s+rolled_back/);
    expect(await tenantDatabaseExists(id)).toBe(false);
  }, 90_000);
});
