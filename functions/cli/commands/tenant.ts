import type { Command } from 'commander';
import { sweepControl } from '../../../shared/queue/sweeper';
import type { Services } from '../../../shared/services';
import { updateTenantConfig } from '../../../shared/tenants/config';
import {
  abandonTenant,
  currentRun,
  deprovisionTenant,
  getTenantStatus,
  listTenantResources,
  listTenants,
  resumeProvisioning,
  resumeTenantService,
  rollbackTenant,
  suspendTenant,
  type TenantStatusView,
} from '../../../shared/tenants/lifecycle';
import { detectStuckRuns } from '../../../shared/tenants/orchestrator';
import { createTenant } from '../../../shared/tenants/tenants';
import { buildApi } from '../../api';
import type { NodeRuntime } from '../../node/wire';
import { err, out, withRuntime } from '../runtime';

/**
 * `frostbyte tenant …`: the tenant lifecycle against the platform's database, like the admin API.
 * Queued work (resume, rollback, deprovision, abandon) is carried out by this process when the
 * relay is local (no QStash), with progress on stderr; with QStash the deployed step routes do it.
 */
export function registerTenantCommands(program: Command) {
  const tenant = program.command('tenant').description('manage tenants and their provisioning');

  tenant
    .command('create <tenant_id>')
    .description('create a tenant and provision it in this process (state ACTIVE)')
    .action(async (tenantId: string) => {
      await withRuntime('frostbyte tenant create', async ({ services }) => {
        const t = await createTenant(services, {
          tenantId,
          actor: 'cli',
          onProgress: (e) => err(`  ${e.step.padEnd(9)} ${e.status}${e.detail ? `  ${e.detail}` : ''}`),
        });
        out(`tenant ${t.id} is ${t.state} (schema ${t.storage?.schema}, bucket ${t.storage?.bucket}${t.storage?.database ? `, database ${t.storage.database}` : ''})`);
      });
    });

  tenant
    .command('status <tenant_id>')
    .description('state, current run and the provisioning step table (status, attempts, timings, resources, errors)')
    .option('--json', 'print the status as JSON')
    .action(async (tenantId: string, opts: { json?: boolean }) => {
      await withRuntime('frostbyte tenant status', async ({ services }) => {
        const status = await getTenantStatus(services, tenantId);
        if (opts.json) out(JSON.stringify(status, null, 2));
        else for (const line of formatStatus(status)) out(line);
      });
    });

  tenant
    .command('list')
    .description('tenants, optionally in one state')
    .option('--state <state>', 'PENDING, PROVISIONING, ACTIVE, SUSPENDED, DEPROVISIONING, DEPROVISIONED or FAILED')
    .option('--json', 'print JSON')
    .action(async (opts: { state?: string; json?: boolean }) => {
      await withRuntime('frostbyte tenant list', async ({ services }) => {
        const rows = [];
        let after: string | undefined;
        do {
          const page = await listTenants(services, { state: opts.state?.toUpperCase(), after, limit: 1000 });
          rows.push(...page.tenants);
          after = page.next_cursor ?? undefined;
        } while (after);
        if (opts.json) return out(JSON.stringify(rows, null, 2));
        for (const line of table(['TENANT', 'STATE', 'CONFIG', 'RUN', 'STUCK', 'UPDATED'], rows.map((t) => [t.tenant_id, t.state, `v${t.config_version}`, t.run_status ?? '-', t.stuck ? 'STUCK' : '', short(t.updated_at)]))) out(line);
      });
    });

  tenant
    .command('resources <tenant_id>')
    .description('what exists now: cloud resources labelled tenant_id=<id> (live) and the storage with a readiness probe')
    .option('--json', 'print JSON')
    .action(async (tenantId: string, opts: { json?: boolean }) => {
      await withRuntime('frostbyte tenant resources', async ({ services }) => {
        const r = await listTenantResources(services, tenantId);
        if (opts.json) return out(JSON.stringify(r, null, 2));
        out(`tenant ${r.tenant_id}  state ${r.state}  cloud ${r.cloud}  selector ${r.label_selector}`);
        if (r.cloud === 'none') out('no cloud resources: the embedded default provisions storage only');
        else if (!r.resources.length) out('no cloud resources carry the label');
        else for (const line of table(['KIND', 'ID', 'NAME', 'STATUS'], r.resources.map((x) => [x.kind, x.id, x.name, x.status ?? '']))) out(line);
        out(`storage: ${r.storage ? Object.entries(r.storage).map(([k, val]) => `${k}=${val}`).join(' ') : 'none recorded'}`);
        if (r.health) out(`health: ${Object.entries(r.health).map(([k, h]) => `${k} ${h.status}${h.message ? ` (${h.message})` : ''}`).join(', ')}`);
      });
    });

  const queued = (name: string, description: string, verb: (services: Services, tenantId: string) => Promise<{ run_id: string }>) =>
    tenant
      .command(`${name} <tenant_id>`)
      .description(description)
      .option('--no-wait', 'queue the work and return; follow it with `frostbyte tenant status`')
      .action(async (tenantId: string, opts: { wait: boolean }) => {
        await withDrivenRuntime(`frostbyte tenant ${name}`, async (rt) => {
          const r = await verb(rt.services, tenantId);
          err(`${name} of ${tenantId} queued as ${r.run_id}`);
          if (opts.wait) await driveRun(rt.services, tenantId, r.run_id);
          for (const line of formatStatus(await getTenantStatus(rt.services, tenantId))) out(line);
        });
      });

  queued('resume', 'resume provisioning from the first step that has not succeeded (FAILED or stuck PROVISIONING)', (s, id) => resumeProvisioning(s, id, 'cli'));
  queued('rollback', 'delete everything provisioning created, newest first; the tenant ends FAILED', (s, id) => rollbackTenant(s, id, 'cli'));
  queued('abandon', 'clean up a FAILED tenant and mark it DEPROVISIONED', (s, id) => abandonTenant(s, id, 'cli'));

  tenant
    .command('deprovision <tenant_id>')
    .description('delete a tenant, its data and its cloud resources for good (DEPROVISIONED)')
    .requiredOption('--confirm <tenant_id>', 'the tenant id typed again')
    .option('--no-wait', 'queue the work and return')
    .action(async (tenantId: string, opts: { confirm: string; wait: boolean }) => {
      await withDrivenRuntime('frostbyte tenant deprovision', async (rt) => {
        const r = await deprovisionTenant(rt.services, tenantId, 'cli', opts.confirm);
        err(`deprovision of ${tenantId} queued as ${r.run_id}`);
        if (opts.wait) await driveRun(rt.services, tenantId, r.run_id);
        for (const line of formatStatus(await getTenantStatus(rt.services, tenantId))) out(line);
      });
    });

  tenant
    .command('suspend <tenant_id>')
    .description('kill switch: vendor requests get 403 TENANT_SUSPENDED, queued work waits')
    .option('--reason <text>', 'recorded in the audit event')
    .action(async (tenantId: string, opts: { reason?: string }) => {
      await withRuntime('frostbyte tenant suspend', async ({ services }) => {
        const r = await suspendTenant(services, tenantId, 'cli', opts.reason);
        out(`tenant ${tenantId} is ${r.state}${r.changed ? '' : ' (unchanged)'}`);
      });
    });

  tenant
    .command('resume-service <tenant_id>')
    .description('lift a suspension; queued work continues')
    .action(async (tenantId: string) => {
      await withRuntime('frostbyte tenant resume-service', async ({ services }) => {
        const r = await resumeTenantService(services, tenantId, 'cli');
        out(`tenant ${tenantId} is ${r.state}${r.changed ? '' : ' (unchanged)'}`);
      });
    });

  tenant
    .command('config <tenant_id>')
    .description('show or change the tenant config (mime_allowlist, max_file_size_mb, max_files_per_batch, batch_rate_limit_per_minute, retention_days)')
    .option('--set <key=value>', 'set a key; mime_allowlist takes a comma-separated list (repeatable)', collect, [])
    .option('--unset <key>', 'remove a key so the platform default applies (repeatable)', collect, [])
    .action(async (tenantId: string, opts: { set: string[]; unset: string[] }) => {
      await withRuntime('frostbyte tenant config', async ({ services }) => {
        if (!opts.set.length && !opts.unset.length) {
          const s = await getTenantStatus(services, tenantId);
          return out(JSON.stringify({ tenant_id: s.tenant_id, config_version: s.config_version, config: s.config }, null, 2));
        }
        const patch: Record<string, unknown> = {};
        for (const pair of opts.set) {
          const eq = pair.indexOf('=');
          if (eq < 1) throw new Error(`--set takes key=value, got "${pair}"`);
          const key = pair.slice(0, eq);
          const value = pair.slice(eq + 1);
          patch[key] = key === 'mime_allowlist' ? value.split(',').map((m) => m.trim()).filter(Boolean) : /^\d+$/.test(value) ? Number(value) : value;
        }
        for (const key of opts.unset) patch[key] = null;
        const r = await updateTenantConfig(services, tenantId, patch, 'cli');
        out(r.changed.length ? `tenant ${tenantId} config v${r.config_version}: changed ${r.changed.join(', ')}` : `tenant ${tenantId} config v${r.config_version}: unchanged`);
        out(JSON.stringify(r.config, null, 2));
      });
    });

  tenant
    .command('detect-stuck')
    .description('report runs past their deadline (audit event + owner notification), as the server does on its own')
    .action(async () => {
      await withDrivenRuntime('frostbyte tenant detect-stuck', async (rt) => {
        const reported = await detectStuckRuns(rt.services);
        for (const r of reported) out(`stuck: tenant ${r.tenantId} run ${r.runId}`);
        if (!reported.length) out('no stuck runs');
        // Deliver the notifications just queued while this process is up.
        if (rt.services.queue?.retriesDelivery) await sweepControl(rt.services);
      });
    });

  return tenant;
}

function collect(value: string, previous: string[]) {
  return [...previous, value];
}

/** A runtime whose local relay delivers step messages to this process's own step routes. */
async function withDrivenRuntime<T>(holder: string, fn: (rt: NodeRuntime) => Promise<T>): Promise<T> {
  let app: ReturnType<typeof buildApi> | null = null;
  return withRuntime(
    holder,
    async (rt) => {
      app = buildApi(rt.services);
      return fn(rt);
    },
    {
      stepsFetch: async (url, init) => {
        if (!app) throw new Error('step routes are not ready');
        return app.request(url, init);
      },
    },
  );
}

/** Relays the control outbox until the run ends, printing each step change on stderr. */
async function driveRun(services: Services, tenantId: string, runId: string) {
  if (!services.queue?.retriesDelivery) {
    err('step messages go through QStash: the deployed service carries the run out; follow it with `frostbyte tenant status`');
    return;
  }
  const until = Date.now() + services.env.PROVISION_DEADLINE_MINUTES * 60_000;
  const seen = new Map<string, string>();
  for (;;) {
    const r = await sweepControl(services);
    const status = await getTenantStatus(services, tenantId);
    for (const s of status.steps) {
      const key = `${s.status}/${s.attempts}`;
      if (seen.get(s.name) !== key) {
        if (seen.has(s.name)) err(`  ${s.name.padEnd(9)} ${s.status}${s.error ? `  ${s.error}` : ''}`);
        seen.set(s.name, key);
      }
    }
    const run = await currentRun(services, tenantId);
    if (!run || run.id !== runId || run.status !== 'running') return;
    if (Date.now() > until) {
      err(`run ${runId} is still going after ${services.env.PROVISION_DEADLINE_MINUTES} minutes; it stays queued`);
      return;
    }
    if (!r.sent) await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const short = (iso: string | null) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-');

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

/** The step table an engineer on call reads first. */
export function formatStatus(s: TenantStatusView): string[] {
  const lines = [`tenant ${s.tenant_id}  state ${s.state}${s.stuck ? '  STUCK (run past its deadline)' : ''}  config v${s.config_version}`];
  if (s.run) {
    lines.push(
      `run ${s.run.run_id}  ${s.run.kind} ${s.run.status}  by ${s.run.requested_by}  started ${short(s.run.started_at)}  ${s.run.finished_at ? `finished ${short(s.run.finished_at)}` : `deadline ${short(s.run.deadline_at)}`}`,
    );
    if (s.run.error) lines.push(`run error: ${s.run.error}`);
  } else lines.push('no provisioning run recorded');
  lines.push('');
  lines.push(
    ...table(
      ['STEP', 'STATUS', 'ATTEMPTS', 'STARTED', 'FINISHED', 'RESOURCES', 'ERROR'],
      s.steps.map((st) => [
        st.name,
        st.status,
        String(st.attempts),
        short(st.started_at),
        short(st.finished_at),
        Object.entries(st.resource_ids).map(([k, val]) => `${k}=${val}`).join(' ') || '-',
        st.error ?? '',
      ]),
    ),
  );
  if (s.notifications.length) {
    lines.push('');
    for (const n of s.notifications) lines.push(`owner notification ${n.type}: ${n.status} (${n.attempts} attempt(s))${n.last_error ? `, last error ${n.last_error}` : ''}`);
  }
  return lines;
}
