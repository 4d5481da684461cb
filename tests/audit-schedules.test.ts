import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvents, openAuditExport, verifyExport, type AuditEvent, type AuditEventInput, type SignedAuditManifest } from '../shared/audit';
import { createAuditSchedule, listAuditSchedules, runDueAuditSchedules } from '../shared/audit/schedules';
import { getExport, type ExportView } from '../shared/audit/service';
import { ManualClock } from '../shared/clock';
import { startAuditScheduler } from '../shared/node/audit-scheduler';
import { startPipelineDriver } from '../shared/node/pipeline-driver';
import { nodeSha256 } from '../shared/node/sha256';
import { jobNamed } from '../shared/queue/scheduled-jobs';
import type { Services } from '../shared/services';
import { resumeTenantService, suspendTenant } from '../shared/tenants/lifecycle';
import { createTenant } from '../shared/tenants/tenants';
import { startRuntime, uniqueName, type DbKind, type TestRuntime } from './helpers/runtime';
import { waitFor } from './helpers/wait';

/**
 * Scheduled audit exports (issue 5 item 4): the admin API, croner validation, one export per
 * window however many runners race for it, catch-up of runs missed while nothing ran, and
 * consecutive files that join seq to seq. Time is a ManualClock handed to the scheduling verbs;
 * the export step itself runs through the real relay and step route.
 */

const DAY = 86_400_000;


/** The next 02:00 UTC strictly after `d`. */
function next0200(d: Date): Date {
  const at = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 2));
  return at > d ? at : new Date(at.getTime() + DAY);
}

describe.each<DbKind>(['pglite', 'postgres'])('scheduled audit exports on %s', (kind) => {
  let rt: TestRuntime;
  let driver: ReturnType<typeof startPipelineDriver>;
  const onceIt = kind === 'pglite' ? it : () => {};

  beforeAll(async () => {
    rt = await startRuntime(kind, { STEP_RETRY_BASE_MS: '50' });
    driver = startPipelineDriver(rt.services, { intervalMs: 200 });
  });
  afterAll(async () => {
    await driver?.stop();
    await rt?.close();
  });

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await rt.app.request(`/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const raw = await res.text();
    return { status: res.status, headers: res.headers, body: raw ? JSON.parse(raw) : null };
  };

  /** The scheduling verbs with a clock of the test's own; everything else as wired. */
  const withClock = (clock: ManualClock): Services => ({ ...rt.services, clock });
  /**
   * A tenant whose history starts `daysAgo` days back, and a clock there to move forward. The
   * clock stays behind real time, so the step messages a run queues are due for the relay.
   */
  const pastTenant = async (base: string, daysAgo: number) => {
    const clock = new ManualClock(new Date(Date.now() - daysAgo * DAY));
    const svc = withClock(clock);
    const tenant = uniqueName(base).slice(0, 40);
    await createTenant(svc, { tenantId: tenant, actor: 'test' });
    return { tenant, clock, svc };
  };
  const completed = (tenant: string, exportId: string) =>
    waitFor(() => getExport(rt.services, tenant, exportId), (e) => e.status === 'completed' || e.status === 'failed').then((e: ExportView) => {
      expect(e.status, e.error ?? '').toBe('completed');
      return e;
    });
  const fileOf = async (tenant: string, exportId: string) => {
    const token = await rt.token(tenant, ['audit']);
    const res = await rt.app.request(`/api/v1/audit/${tenant}/exports/${exportId}/file`, { headers: { authorization: `Bearer ${token}` } });
    return res.text();
  };

  onceIt('lets operators create, list and delete schedules; cron is checked and the change is on the chain', async () => {
    const tenant = await rt.tenant('schapi');
    const other = await rt.tenant('schoth');
    const admin = await rt.token(null, ['admin'], { sub: 'ops-oncall' });
    const audit = await rt.token(tenant, ['audit']);
    const base = `/admin/tenants/${tenant}/audit-schedules`;

    for (const [body, field] of [
      [{ cron: '61 * * * *' }, 'cron'],
      [{ cron: '0 2 * *' }, 'cron'],
      [{ cron: '* * * * * *' }, 'cron'],
      [{ cron: '0 0 31 2 *' }, 'cron'],
      [{ cron: '0 2 * * *', format: 'xml' }, 'format'],
      [{}, 'cron'],
    ] as const) {
      const r = await call(admin, 'POST', base, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect((await call(audit, 'POST', base, { cron: '0 2 * * *' })).status).toBe(403);
    expect((await call(admin, 'POST', '/admin/tenants/no-such-tenant/audit-schedules', { cron: '0 2 * * *' })).status).toBe(404);

    const before = Date.now();
    const created = await call(admin, 'POST', base, { cron: '0  2 * * *', format: 'cef' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ tenant_id: tenant, cron: '0 2 * * *', format: 'cef', enabled: true, last_run_at: null });
    expect(created.body.schedule_id).toMatch(/^sch_[0-9a-f]{32}$/);
    expect(created.headers.get('location')).toBe(`/api/v1${base}/${created.body.schedule_id}`);
    expect(created.body.next_run_at).toBe(next0200(new Date(before)).toISOString());

    expect((await call(admin, 'GET', base)).body.schedules).toEqual([created.body]);
    expect((await call(admin, 'GET', `/admin/tenants/${other}/audit-schedules`)).body.schedules).toEqual([]);
    expect((await call(admin, 'DELETE', `/admin/tenants/${other}/audit-schedules/${created.body.schedule_id}`)).status).toBe(404);
    expect((await call(admin, 'DELETE', `${base}/${created.body.schedule_id}`)).status).toBe(204);
    expect((await call(admin, 'GET', base)).body.schedules).toEqual([]);

    const changes = await call(audit, 'GET', `/audit/${tenant}/events?event_type=TENANT_CONFIG_UPDATED`);
    expect((changes.body.events as AuditEvent[]).map((e) => [e.actor, e.details.change, e.details.schedule_id, e.details.cron])).toEqual([
      ['ops-oncall', 'audit_schedule_created', created.body.schedule_id, '0 2 * * *'],
      ['ops-oncall', 'audit_schedule_deleted', created.body.schedule_id, '0 2 * * *'],
    ]);
  });

  it('catches up missed runs on start, runs each window once, and joins consecutive files seq to seq', async () => {
    const { tenant, clock, svc } = await pastTenant('sched', 10);
    const mine = <T extends { tenant_id: string }>(runs: T[]) => runs.filter((r) => r.tenant_id === tenant);

    const schedule = await createAuditSchedule(svc, tenant, { cron: '0 2 * * *' }, 'ops');
    expect(mine((await runDueAuditSchedules(svc)).started)).toEqual([]);

    // Nothing ran for three days: three 02:00 runs were missed. Starting the scheduler catches up
    // with one export that covers the whole missed stretch.
    clock.advance(3 * DAY);
    const scheduler = startAuditScheduler(svc, { pollMs: 60_000 });
    try {
      const to1 = new Date(next0200(new Date(clock.now().getTime() - DAY)).getTime());
      const [first] = mine(await scheduler.runNow());
      expect(first).toMatchObject({ schedule_id: schedule.schedule_id, from: null, to: to1.toISOString() });
      const e1 = await completed(tenant, first.export_id);
      const m1 = e1.manifest as SignedAuditManifest;
      expect(e1).toMatchObject({ schedule_id: schedule.schedule_id, requested_by: 'system', from: null, to: to1.toISOString() });
      expect(m1.first_seq).toBe(1);
      const [after1] = (await listAuditSchedules(rt.services, tenant)).schedules;
      expect(after1).toMatchObject({ last_run_at: to1.toISOString(), next_run_at: new Date(to1.getTime() + DAY).toISOString() });
      expect(mine(await scheduler.runNow())).toEqual([]);

      // The next day's events, and one that was recorded before the window began but reached the
      // chain only after the first file was written: the second file still starts right after the first.
      const doc = uniqueName('doc_s');
      const at = (ms: number) => new Date(to1.getTime() + ms).toISOString();
      const late: AuditEventInput = { event_type: 'WEBHOOK_DELIVERED', actor: 'system', resource_type: 'webhook', resource_id: 'dlv_late', details: { component: 'webhooks' }, timestamp: at(-60_000) };
      const day2: AuditEventInput[] = [
        { event_type: 'DOCUMENT_INGESTED', actor: 'system', resource_type: 'document', resource_id: doc, details: { output_hash: 'a'.repeat(64) }, timestamp: at(3_600_000) },
        { event_type: 'DOCUMENT_PARSED', actor: 'system', resource_type: 'document', resource_id: doc, details: { input_hash: 'a'.repeat(64), output_hash: 'b'.repeat(64) }, timestamp: at(7_200_000) },
      ];
      const appended = await appendEvents(rt.services.control, tenant, [late, ...day2], rt.services.clock, { sha256: rt.services.sha256 });

      clock.advance(DAY);
      const [second] = mine(await scheduler.runNow());
      expect(second).toMatchObject({ from: to1.toISOString(), to: at(DAY) });
      const e2 = await completed(tenant, second.export_id);
      const m2 = e2.manifest as SignedAuditManifest;
      expect(m2.first_seq).toBe((m1.last_seq as number) + 1);
      expect(m2.first_prev_hash).toBe(m1.last_hash);
      const text2 = await fileOf(tenant, second.export_id);
      const ids2 = text2.trimEnd().split('\n').map((l) => (JSON.parse(l) as AuditEvent).event_id);
      for (const e of appended.events) expect(ids2).toContain(e.event_id);
      const jwks = await rt.services.keys.jwks();
      expect(await verifyExport(await fileOf(tenant, first.export_id), m1, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });
      expect(await verifyExport(text2, m2, jwks, { sha256: nodeSha256 })).toMatchObject({ ok: true });

      // Workers cron and QStash schedules call the same verb through the scheduled-jobs table.
      clock.advance(DAY);
      const job = jobNamed('audit-exports');
      if (!job) throw new Error('the audit-exports job is not in SCHEDULED_JOBS');
      await job.run(svc);
      const [after3] = (await listAuditSchedules(rt.services, tenant)).schedules;
      expect(after3.last_run_at).toBe(at(2 * DAY));

      // Several runners at once (instances, a cron trigger and the Node timer) start one export.
      clock.advance(DAY);
      const raced = await Promise.all([runDueAuditSchedules(svc), runDueAuditSchedules(svc), runDueAuditSchedules(svc), scheduler.runNow()]);
      const runs = raced.flatMap((r) => mine(Array.isArray(r) ? r : r.started));
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ from: at(2 * DAY), to: at(3 * DAY) });
      await completed(tenant, runs[0].export_id);
      const listed = await call(await rt.token(tenant, ['audit']), 'GET', `/audit/${tenant}/exports?status=completed`);
      expect((listed.body.exports as ExportView[]).map((e) => e.schedule_id)).toEqual(Array(4).fill(schedule.schedule_id));
    } finally {
      await scheduler.stop();
    }
  });

  onceIt('continues a feed right after the previous file even when an earlier-stamped event was chained late', async () => {
    const tenant = await rt.tenant('feed');
    // Windows after the tenant's own (today's) events.
    const T = next0200(new Date(Date.now() + 30 * DAY)).getTime();
    const ev = (id: string, ms: number): AuditEventInput => ({ event_type: 'WEBHOOK_DELIVERED', actor: 'system', resource_type: 'webhook', resource_id: id, details: {}, timestamp: new Date(T + ms).toISOString() });
    const append = (events: AuditEventInput[]) => appendEvents(rt.services.control, tenant, events, rt.services.clock, { sha256: rt.services.sha256 });
    const read = async (selection: Parameters<typeof openAuditExport>[2]) => {
      const exp = await openAuditExport(rt.services.control, tenant, selection, { sha256: nodeSha256 });
      const lines: AuditEvent[] = [];
      for await (const line of exp.lines) lines.push(JSON.parse(line) as AuditEvent);
      return lines.map((e) => e.resource_id);
    };
    await append([ev('dlv_1', -7_200_000)]);
    const before = await read({ from: new Date(T - DAY).toISOString(), to: new Date(T).toISOString() });
    expect(before).toEqual(['dlv_1']);
    const lastSeq = (await append([ev('dlv_late', -1000), ev('dlv_2', 3_600_000)])).events[0].seq - 1;
    const window = { from: new Date(T).toISOString(), to: new Date(T + DAY).toISOString() };
    // By timestamp alone the late event falls between the two windows; the feed keeps it.
    expect(await read(window)).toEqual(['dlv_2']);
    expect(await read({ ...window, after_seq: lastSeq })).toEqual(['dlv_late', 'dlv_2']);
  });

  onceIt('holds a suspended tenant\'s runs and exports the whole window once it is back', async () => {
    const { tenant, clock, svc } = await pastTenant('schsus', 1);
    const schedule = await createAuditSchedule(svc, tenant, { cron: '30 * * * *', format: 'cef' }, 'ops');
    await suspendTenant(svc, tenant, 'ops', 'invoice overdue');
    clock.advance(3 * 3_600_000);
    expect((await runDueAuditSchedules(svc)).started.filter((r) => r.tenant_id === tenant)).toEqual([]);
    await resumeTenantService(svc, tenant, 'ops');
    const [run] = (await runDueAuditSchedules(svc)).started.filter((r) => r.tenant_id === tenant);
    expect(run).toMatchObject({ schedule_id: schedule.schedule_id, from: null });
    const done = await completed(tenant, run.export_id);
    expect(done.format).toBe('cef');
    const types = (await fileOf(tenant, run.export_id)).trimEnd().split('\n').map((l) => l.split('|')[4]);
    expect(types[0]).toBe('TENANT_CREATED');
    expect(types).toContain('TENANT_SUSPENDED');
  });
});
