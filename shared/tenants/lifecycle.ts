import { and, asc, desc, eq, gt, inArray, type SQL } from 'drizzle-orm';
import { appendEvents } from '../audit/append';
import { tenants, type TenantConfig, type TenantState } from '../db/schema/control';
import { provisioningRuns, provisioningSteps } from '../db/schema/control-operations';
import type { Tx } from '../db/types';
import { AppError } from '../http/errors';
import { TENANT_ID_PATTERN } from '../ids';
import type { Services } from '../services';
import { tenantSelector, type CloudResource } from './cloud/cloud-provider';
import { configFromPatch, parseConfigPatch } from './config';
import { listOwnerNotifications, type NotificationRecord } from './notify';
import { checkTenantHealth } from './health-check';
import {
  enqueueDeadline,
  enqueueFinish,
  enqueueStep,
  enqueueUndo,
  insertRun,
  kickControl,
  loadSteps,
  nextPendingStep,
  STEP_LEASE_MS,
  undoableSteps,
  type RunRow,
  type StepRow,
  type TeardownPurpose,
} from './orchestrator';
import { CLOUD_STEPS, planSteps, type ProvisionStepName } from './plan';

export const TENANT_STATES: readonly TenantState[] = ['PENDING', 'PROVISIONING', 'ACTIVE', 'SUSPENDED', 'DEPROVISIONING', 'DEPROVISIONED', 'FAILED'];

type TenantRow = typeof tenants.$inferSelect;

/** Longest tenant id whose cloud resource names still fit Hetzner's 63-character names. */
export const MAX_CLOUD_TENANT_ID = 48;

function requireValidId(tenantId: string) {
  if (!TENANT_ID_PATTERN.test(tenantId)) {
    throw new AppError('VALIDATION_FAILED', 'Tenant ids are DNS labels: 2–63 lower-case letters, digits and hyphens, starting and ending with a letter or digit.', {
      errors: [{ field: 'tenant_id', message: 'must match ^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$' }],
    });
  }
}

const notFound = (tenantId: string) => new AppError('NOT_FOUND', `Tenant ${tenantId} was not found.`);

async function lockTenantOr404(tx: Tx, tenantId: string): Promise<TenantRow> {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw notFound(tenantId);
  const rows = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for('update').limit(1);
  if (!rows[0]) throw notFound(tenantId);
  return rows[0];
}

function refuseState(tenant: TenantRow, action: string, allowed: TenantState[]): never {
  throw new AppError('CONFLICT', `Tenant ${tenant.id} is ${tenant.state}; ${action} needs ${allowed.join(' or ')}.`, { state: tenant.state });
}

async function latestRun(tx: Tx | Services['control'], tenantId: string): Promise<RunRow | undefined> {
  const rows = await tx.select().from(provisioningRuns).where(eq(provisioningRuns.tenantId, tenantId)).orderBy(desc(provisioningRuns.startedAt), desc(provisioningRuns.id)).limit(1);
  return rows[0];
}

/** Refuses while a step is executing somewhere (started within the lease): acting now could race it. */
function refuseIfStepRunning(services: Services, tenantId: string, steps: StepRow[], action: string) {
  const now = services.clock.now().getTime();
  const busy = steps.find((s) => s.status === 'running' && s.startedAt && now - s.startedAt.getTime() < STEP_LEASE_MS);
  if (busy?.startedAt) {
    throw new AppError('CONFLICT', `Step ${busy.name} of tenant ${tenantId} has been running since ${busy.startedAt.toISOString()}; ${action} once it ends or after ${STEP_LEASE_MS / 60_000} minutes.`, { step: busy.name });
  }
}

/**
 * A tenant whose cloud steps ran (or are to run) needs a process with a cloud configured: without
 * one, undoing would leave its resources behind and resuming would fail at the first cloud step.
 */
function requireCloudFor(services: Services, tenantId: string, steps: StepRow[], action: string) {
  if (services.cloud.kind !== 'none') return;
  const cloudStep = steps.find((s) => CLOUD_STEPS[s.name as ProvisionStepName] && s.status !== 'skipped');
  if (cloudStep) {
    throw new AppError('CONFLICT', `Tenant ${tenantId} has cloud steps (${cloudStep.name}) but this process has no cloud configured; ${action} where HCLOUD_TOKEN is set.`, { step: cloudStep.name });
  }
}

// ---- create -------------------------------------------------------------------------------

/**
 * Creates the tenant row (PENDING, TENANT_CREATED) and starts its provisioning run
 * (PROVISIONING, TENANT_PROVISION_STARTED) in one transaction. `queued`: the first step is in
 * the control outbox when this returns (the API answers 202). `inline`: the caller runs the steps.
 */
export async function beginTenant(
  services: Services,
  input: { tenantId: string; actor: string; config?: unknown },
  mode: 'queued' | 'inline',
): Promise<{ runId: string; firstStep: ProvisionStepName | null }> {
  const { tenantId, actor } = input;
  requireValidId(tenantId);
  if (services.cloud.kind !== 'none' && tenantId.length > MAX_CLOUD_TENANT_ID) {
    // Hetzner names are one DNS label (63): `tenant-<id>-private`, `tenant-<id>-data-1`.
    throw new AppError('VALIDATION_FAILED', `With cloud provisioning a tenant id has at most ${MAX_CLOUD_TENANT_ID} characters.`, {
      errors: [{ field: 'tenant_id', message: `must be at most ${MAX_CLOUD_TENANT_ID} characters` }],
    });
  }
  const config: TenantConfig = input.config === undefined ? {} : configFromPatch(parseConfigPatch(input.config, services.env));
  const now = services.clock.now();
  const result = await services.control.transaction(async (tx) => {
    const existing = await tx.select({ id: tenants.id, state: tenants.state }).from(tenants).where(eq(tenants.id, tenantId)).limit(1);
    if (existing.length) throw new AppError('CONFLICT', `Tenant ${tenantId} already exists (state ${existing[0].state}).`);
    await tx.insert(tenants).values({ id: tenantId, state: 'PENDING', config, createdAt: now, updatedAt: now });
    await appendEvents(tx, tenantId, [
      { event_type: 'TENANT_CREATED', actor, resource_type: 'tenant', resource_id: tenantId, details: { component: 'tenants', status: 'PENDING', config_version: 1 } },
    ], services.clock);
    const run = await insertRun(tx, services, { tenantId, kind: 'provision', actor });
    // Rows left by an earlier tenant of the same id (deleted by hand) must not leak into this one.
    await tx.delete(provisioningSteps).where(eq(provisioningSteps.tenantId, tenantId));
    const plan = planSteps(services.cloud);
    await tx.insert(provisioningSteps).values(plan.map((s) => ({ tenantId, name: s.name, position: s.position, status: s.status, resourceIds: {} })));
    await tx.update(tenants).set({ state: 'PROVISIONING', updatedAt: now }).where(eq(tenants.id, tenantId));
    const first = plan.find((s) => s.status === 'pending')?.name ?? null;
    await appendEvents(tx, tenantId, [
      {
        event_type: 'TENANT_PROVISION_STARTED', actor, resource_type: 'tenant', resource_id: tenantId,
        details: { component: 'provisioning', run_id: run.id, status: 'PROVISIONING', cloud: services.cloud.kind, steps: plan.filter((s) => s.status === 'pending').map((s) => s.name), deadline_at: run.deadlineAt.toISOString() },
      },
    ], services.clock);
    if (mode === 'queued') {
      if (first) await enqueueStep(tx, services, tenantId, run.id, first);
      await enqueueDeadline(tx, services, tenantId, run.id, run.deadlineAt);
    }
    return { runId: run.id, firstStep: first };
  });
  if (mode === 'queued') kickControl(services);
  return result;
}

// ---- read ---------------------------------------------------------------------------------

export interface StepView {
  name: string;
  position: number;
  status: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  resource_ids: Record<string, string>;
  error: string | null;
}

export interface RunView {
  run_id: string;
  kind: string;
  status: string;
  requested_by: string;
  started_at: string;
  finished_at: string | null;
  deadline_at: string;
  stuck: boolean;
  stuck_reported_at: string | null;
  error: string | null;
}

export interface TenantStatusView {
  tenant_id: string;
  state: TenantState;
  config: TenantConfig;
  config_version: number;
  storage: TenantRow['storage'];
  created_at: string;
  updated_at: string;
  /** The current run is past its deadline and has not finished. */
  stuck: boolean;
  run: RunView | null;
  steps: StepView[];
  notifications: NotificationRecord[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function runView(services: Services, run: RunRow): RunView {
  return {
    run_id: run.id,
    kind: run.kind,
    status: run.status,
    requested_by: run.requestedBy,
    started_at: run.startedAt.toISOString(),
    finished_at: iso(run.finishedAt),
    deadline_at: run.deadlineAt.toISOString(),
    stuck: isStuck(services, run),
    stuck_reported_at: iso(run.stuckReportedAt),
    error: run.error,
  };
}

function isStuck(services: Services, run: RunRow | undefined): boolean {
  return !!run && run.status === 'running' && services.clock.now().getTime() >= run.deadlineAt.getTime();
}

function stepView(services: Services, s: StepRow): StepView {
  const end = s.finishedAt ?? (s.status === 'running' ? services.clock.now() : null);
  return {
    name: s.name,
    position: s.position,
    status: s.status,
    attempts: s.attempts,
    started_at: iso(s.startedAt),
    finished_at: iso(s.finishedAt),
    duration_ms: s.startedAt && end ? Math.max(0, end.getTime() - s.startedAt.getTime()) : null,
    resource_ids: s.resourceIds,
    error: s.error,
  };
}

/** Everything an engineer needs about one tenant's lifecycle, from the control plane only. */
export async function getTenantStatus(services: Services, tenantId: string): Promise<TenantStatusView> {
  if (!TENANT_ID_PATTERN.test(tenantId)) throw notFound(tenantId);
  const rows = await services.control.select().from(tenants).where(eq(tenants.id, tenantId)).limit(1);
  const tenant = rows[0];
  if (!tenant) throw notFound(tenantId);
  const run = await latestRun(services.control, tenantId);
  const steps = await loadSteps(services.control, tenantId);
  return {
    tenant_id: tenant.id,
    state: tenant.state,
    config: tenant.config ?? {},
    config_version: tenant.configVersion,
    storage: tenant.storage,
    created_at: tenant.createdAt.toISOString(),
    updated_at: tenant.updatedAt.toISOString(),
    stuck: isStuck(services, run),
    run: run ? runView(services, run) : null,
    steps: steps.map((s) => stepView(services, s)),
    notifications: await listOwnerNotifications(services.control, tenantId),
  };
}

export interface TenantListItem {
  tenant_id: string;
  state: TenantState;
  config_version: number;
  created_at: string;
  updated_at: string;
  run_status: string | null;
  stuck: boolean;
}

/** Tenants by id, optionally in one state; `after` is the last id of the previous page. */
export async function listTenants(services: Services, query: { state?: string; limit?: number; after?: string } = {}): Promise<{ tenants: TenantListItem[]; next_cursor: string | null }> {
  const limit = query.limit ?? 100;
  const problems = [];
  if (query.state !== undefined && !TENANT_STATES.includes(query.state as TenantState)) problems.push({ field: 'state', message: `must be one of ${TENANT_STATES.join(', ')}` });
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) problems.push({ field: 'limit', message: 'must be a whole number from 1 to 1000' });
  if (problems.length) throw new AppError('VALIDATION_FAILED', 'Invalid tenant query.', { errors: problems });
  const where: SQL[] = [];
  if (query.state) where.push(eq(tenants.state, query.state as TenantState));
  if (query.after) where.push(gt(tenants.id, query.after));
  const rows = await services.control.select().from(tenants).where(where.length ? and(...where) : undefined).orderBy(asc(tenants.id)).limit(limit + 1);
  const page = rows.slice(0, limit);
  const runs = page.length
    ? await services.control.select().from(provisioningRuns).where(inArray(provisioningRuns.tenantId, page.map((t) => t.id))).orderBy(desc(provisioningRuns.startedAt), desc(provisioningRuns.id))
    : [];
  const latest = new Map<string, RunRow>();
  for (const r of runs) if (!latest.has(r.tenantId)) latest.set(r.tenantId, r);
  return {
    tenants: page.map((t) => {
      const run = latest.get(t.id);
      return {
        tenant_id: t.id, state: t.state, config_version: t.configVersion, created_at: t.createdAt.toISOString(), updated_at: t.updatedAt.toISOString(),
        run_status: run?.status ?? null, stuck: isStuck(services, run),
      };
    }),
    next_cursor: rows.length > limit ? page[page.length - 1].id : null,
  };
}

/**
 * What exists for a tenant right now: its cloud resources found by label `tenant_id=<id>`
 * (live from the cloud) and its storage with a readiness probe.
 */
export async function listTenantResources(services: Services, tenantId: string) {
  const status = await getTenantStatus(services, tenantId);
  const cloud: CloudResource[] = await services.cloud.listResources(tenantSelector(tenantId));
  const storageStep = status.steps.find((s) => s.name === 'storage');
  const storage = status.storage ?? (storageStep && Object.keys(storageStep.resource_ids).length ? storageStep.resource_ids : null);
  let health: Record<string, { status: string; latency_ms: number; message?: string }> | null = null;
  if (storage && status.state !== 'DEPROVISIONED') {
    const checks = await checkTenantHealth(services, tenantId);
    health = Object.fromEntries(Object.entries(checks).map(([k, c]) => [k, { status: c.status, latency_ms: c.latency_ms, ...(c.message ? { message: c.message } : {}) }]));
  }
  return { tenant_id: tenantId, state: status.state, cloud: services.cloud.kind, label_selector: tenantSelector(tenantId), resources: cloud, storage, health };
}

// ---- operator actions ---------------------------------------------------------------------

/**
 * Resumes provisioning from the first step that has not succeeded, in a new run (the old one is
 * closed). For a FAILED tenant, or a PROVISIONING one whose run is stuck or waiting on retries.
 */
export async function resumeProvisioning(services: Services, tenantId: string, actor: string): Promise<{ tenant_id: string; state: TenantState; run_id: string; from_step: string }> {
  const result = await services.control.transaction(async (tx) => {
    const tenant = await lockTenantOr404(tx, tenantId);
    if (tenant.state !== 'FAILED' && tenant.state !== 'PROVISIONING') refuseState(tenant, 'resume', ['FAILED', 'PROVISIONING']);
    const previous = await latestRun(tx, tenantId);
    if (previous && previous.kind !== 'provision' && previous.status === 'running') {
      throw new AppError('CONFLICT', `A ${previous.kind} of tenant ${tenantId} is running (${previous.id}); wait for it to end.`);
    }
    const steps = await loadSteps(tx, tenantId);
    refuseIfStepRunning(services, tenantId, steps, 'resume');
    requireCloudFor(services, tenantId, steps, 'resume');
    const now = services.clock.now();
    if (previous?.status === 'running') {
      await tx.update(provisioningRuns).set({ status: 'failed', finishedAt: now, updatedAt: now, error: 'superseded by a resumed run' }).where(eq(provisioningRuns.id, previous.id));
    }
    // Failed, interrupted and rolled-back steps run again; what succeeded stays.
    await tx
      .update(provisioningSteps)
      .set({ status: 'pending' })
      .where(and(eq(provisioningSteps.tenantId, tenantId), inArray(provisioningSteps.status, ['failed', 'running', 'rolled_back'])));
    let first = nextPendingStep(await loadSteps(tx, tenantId));
    if (!first) {
      // Every step succeeded but the tenant never became ACTIVE: check readiness again.
      await tx.update(provisioningSteps).set({ status: 'pending' }).where(and(eq(provisioningSteps.tenantId, tenantId), eq(provisioningSteps.name, 'health')));
      first = nextPendingStep(await loadSteps(tx, tenantId));
    }
    if (!first) throw new Error(`tenant ${tenantId} has no provisioning steps`);
    const run = await insertRun(tx, services, { tenantId, kind: 'provision', actor });
    await tx.update(tenants).set({ state: 'PROVISIONING', updatedAt: now }).where(eq(tenants.id, tenantId));
    await appendEvents(tx, tenantId, [
      {
        event_type: 'TENANT_PROVISION_RETRY', actor, resource_type: 'tenant', resource_id: tenantId,
        details: { component: 'provisioning', trigger: 'resume', run_id: run.id, previous_run_id: previous?.id ?? null, from_step: first.name, previous_state: tenant.state, status: 'PROVISIONING' },
      },
    ], services.clock);
    await enqueueStep(tx, services, tenantId, run.id, first.name as ProvisionStepName);
    await enqueueDeadline(tx, services, tenantId, run.id, run.deadlineAt);
    return { tenant_id: tenantId, state: 'PROVISIONING' as TenantState, run_id: run.id, from_step: first.name };
  });
  kickControl(services);
  return result;
}

async function startTeardown(
  services: Services,
  tenantId: string,
  actor: string,
  purpose: TeardownPurpose,
  allowed: TenantState[],
): Promise<{ tenant_id: string; state: TenantState; run_id: string; steps: string[] }> {
  const action = purpose === 'rollback' ? 'rollback' : purpose;
  const result = await services.control.transaction(async (tx) => {
    const tenant = await lockTenantOr404(tx, tenantId);
    if (!allowed.includes(tenant.state)) refuseState(tenant, action, allowed);
    const previous = await latestRun(tx, tenantId);
    if (previous && previous.kind !== 'provision' && previous.status === 'running') {
      throw new AppError('CONFLICT', `A ${previous.kind} of tenant ${tenantId} is already running (${previous.id}).`);
    }
    const steps = await loadSteps(tx, tenantId);
    refuseIfStepRunning(services, tenantId, steps, action);
    requireCloudFor(services, tenantId, undoableSteps(steps), action);
    const now = services.clock.now();
    // Messages of a provisioning run still in the queue must do nothing from here on.
    await tx
      .update(provisioningRuns)
      .set({ status: 'failed', updatedAt: now, finishedAt: now, error: `${action} requested by ${actor}` })
      .where(and(eq(provisioningRuns.tenantId, tenantId), eq(provisioningRuns.status, 'running')));
    const run = await insertRun(tx, services, { tenantId, kind: purpose === 'rollback' ? 'rollback' : 'deprovision', actor });
    if (purpose !== 'rollback') await tx.update(tenants).set({ state: 'DEPROVISIONING', updatedAt: now }).where(eq(tenants.id, tenantId));
    const undo = undoableSteps(steps);
    if (undo[0]) await enqueueUndo(tx, services, tenantId, run.id, undo[0].name as ProvisionStepName, purpose);
    else await enqueueFinish(tx, services, tenantId, run.id, purpose);
    await enqueueDeadline(tx, services, tenantId, run.id, run.deadlineAt);
    const state: TenantState = purpose === 'rollback' ? tenant.state : 'DEPROVISIONING';
    return { tenant_id: tenantId, state, run_id: run.id, steps: undo.map((s) => s.name) };
  });
  kickControl(services);
  return result;
}

/** Deletes everything provisioning created, newest first; the tenant ends FAILED. */
export function rollbackTenant(services: Services, tenantId: string, actor: string) {
  return startTeardown(services, tenantId, actor, 'rollback', ['FAILED', 'PROVISIONING']);
}

/** Removes a serving tenant for good. `confirm` must be the tenant id typed again. */
export function deprovisionTenant(services: Services, tenantId: string, actor: string, confirm: string | undefined) {
  if (confirm !== tenantId) {
    throw new AppError('VALIDATION_FAILED', `Deprovisioning deletes the tenant's data for good: confirm by sending the tenant id "${tenantId}" again.`, {
      errors: [{ field: 'confirm', message: 'must equal the tenant id' }],
    });
  }
  return startTeardown(services, tenantId, actor, 'deprovision', ['ACTIVE', 'SUSPENDED', 'DEPROVISIONING']);
}

/** Gives up on a FAILED tenant: cleans up whatever is left and marks it DEPROVISIONED. */
export function abandonTenant(services: Services, tenantId: string, actor: string) {
  return startTeardown(services, tenantId, actor, 'abandon', ['FAILED', 'DEPROVISIONING']);
}

/**
 * The kill switch: from the moment this returns every vendor request of the tenant is refused
 * with 403 TENANT_SUSPENDED (the state is read from the database on each request). Requests
 * already past authentication finish; queued pipeline work waits in the outbox.
 */
export async function suspendTenant(services: Services, tenantId: string, actor: string, reason?: string) {
  return services.control.transaction(async (tx) => {
    const tenant = await lockTenantOr404(tx, tenantId);
    if (tenant.state === 'SUSPENDED') return { tenant_id: tenantId, state: tenant.state, changed: false };
    if (tenant.state !== 'ACTIVE') refuseState(tenant, 'suspend', ['ACTIVE']);
    await tx.update(tenants).set({ state: 'SUSPENDED', updatedAt: services.clock.now() }).where(eq(tenants.id, tenantId));
    await appendEvents(tx, tenantId, [
      { event_type: 'TENANT_SUSPENDED', actor, resource_type: 'tenant', resource_id: tenantId, details: { component: 'tenants', status: 'SUSPENDED', ...(reason ? { reason } : {}) } },
    ], services.clock);
    return { tenant_id: tenantId, state: 'SUSPENDED' as TenantState, changed: true };
  });
}

/** Lifts a suspension; the tenant's queued work is relayed again at once. */
export async function resumeTenantService(services: Services, tenantId: string, actor: string) {
  const result = await services.control.transaction(async (tx) => {
    const tenant = await lockTenantOr404(tx, tenantId);
    if (tenant.state === 'ACTIVE') return { tenant_id: tenantId, state: tenant.state, changed: false };
    if (tenant.state !== 'SUSPENDED') refuseState(tenant, 'resume-service', ['SUSPENDED']);
    await tx.update(tenants).set({ state: 'ACTIVE', updatedAt: services.clock.now() }).where(eq(tenants.id, tenantId));
    await appendEvents(tx, tenantId, [
      { event_type: 'TENANT_RESUMED', actor, resource_type: 'tenant', resource_id: tenantId, details: { component: 'tenants', status: 'ACTIVE' } },
    ], services.clock);
    return { tenant_id: tenantId, state: 'ACTIVE' as TenantState, changed: true };
  });
  if (result.changed) services.onOutboxWritten?.(tenantId);
  return result;
}

/** The run a CLI command or test waits for: the tenant's latest. */
export async function currentRun(services: Services, tenantId: string): Promise<RunRow | undefined> {
  return latestRun(services.control, tenantId);
}
