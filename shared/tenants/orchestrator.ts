import { and, asc, eq, inArray, isNull, lte, sql } from 'drizzle-orm';
import { uuidv7 } from 'uuidv7';
import * as v from 'valibot';
import { appendEvents } from '../audit/append';
import type { AuditEventInput } from '../audit/types';
import { tenants, type TenantState, type TenantStorage } from '../db/schema/control';
import {
  provisioningRuns,
  provisioningSteps,
  type ProvisioningRunKind,
  type ProvisioningStepStatus,
} from '../db/schema/control-operations';
import type { DbOrTx, Tx } from '../db/types';
import { enqueueControlStep } from '../queue/outbox';
import { RetryableStepError } from '../queue/step';
import { CONTROL } from '../queue/sweeper';
import type { Services } from '../services';
import { CloudProviderError, tenantSelector, type CloudResource } from './cloud/cloud-provider';
import { waitForTenantHealthy } from './health-check';
import { deliverOwnerNotification, PROVISION_TOPIC, queueOwnerNotification, type OwnerNotification, type OwnerNotificationType } from './notify';
import {
  CLOUD_STEPS,
  cloudResourceName,
  dnsRecordSpec,
  firewallSpec,
  networkSpec,
  PROVISION_STEPS,
  serverSpec,
  volumeSpec,
  type ProvisionStepName,
} from './plan';
import { describeStepError, type StepFailure } from './step-errors';

/**
 * The provisioning orchestrator (DESIGN §7). A run is a chain of control-outbox messages on the
 * `provision` topic: each message runs ONE step of the tenant's ordered list and, in the same
 * transaction that records the step, writes the message for the next one. A process that dies
 * mid-run leaves either an unsent message (delivered by the next relay pass) or a step that runs
 * again and adopts what it had made, so a restart resumes where it stopped.
 *
 * Rollback, deprovisioning and abandoning are the same chain in reverse (`undo` messages): each
 * deletes what one step made, newest step first.
 *
 * No transaction is held across a cloud or storage call: PGlite has a single connection, and a
 * server takes minutes to start.
 */

export type StepRow = typeof provisioningSteps.$inferSelect;
export type RunRow = typeof provisioningRuns.$inferSelect;

/** Why a teardown runs; decides the tenant's final state and audit event. */
export type TeardownPurpose = 'rollback' | 'deprovision' | 'abandon';

const StepName = v.picklist(PROVISION_STEPS);
export const ProvisionMessageSchema = v.variant('action', [
  v.object({ tenant_id: v.string(), run_id: v.string(), action: v.literal('step'), step: StepName }),
  v.object({ tenant_id: v.string(), run_id: v.string(), action: v.literal('undo'), step: StepName, purpose: v.picklist(['rollback', 'deprovision', 'abandon']) }),
  v.object({ tenant_id: v.string(), run_id: v.string(), action: v.literal('finish'), purpose: v.picklist(['rollback', 'deprovision', 'abandon']) }),
  v.object({ tenant_id: v.string(), run_id: v.string(), action: v.literal('deadline') }),
  v.object({
    tenant_id: v.string(),
    run_id: v.string(),
    action: v.literal('notify'),
    notification: v.looseObject({
      type: v.picklist(['tenant.provision_failed', 'tenant.provision_stuck', 'tenant.rolled_back', 'tenant.cleanup_failed']),
      tenant_id: v.string(),
      run_id: v.string(),
      occurred_at: v.string(),
      text: v.string(),
    }),
  }),
]);
export type ProvisionMessage = v.InferOutput<typeof ProvisionMessageSchema>;

/** A step that started within this long is taken to be still running somewhere (longer than a server's start). */
export const STEP_LEASE_MS = 10 * 60_000;

export class ProvisioningFailedError extends Error {
  constructor(
    readonly tenantId: string,
    readonly step: string,
    readonly failure: StepFailure,
  ) {
    super(`provisioning of tenant ${tenantId} failed at step ${step}: ${failure.code}: ${failure.message} (the tenant is FAILED; see \`frostbyte tenant status ${tenantId}\`)`);
    this.name = 'ProvisioningFailedError';
  }
}

export function newRunId(): string {
  return `run_${uuidv7().replaceAll('-', '')}`;
}

export interface StepContextLike {
  attempt: number;
  messageId: string;
}

export type ProgressListener = (e: { step: ProvisionStepName; status: ProvisioningStepStatus; detail?: string }) => void;

// ---- reading ---------------------------------------------------------------------------

export async function loadSteps(db: DbOrTx, tenantId: string): Promise<StepRow[]> {
  return db.select().from(provisioningSteps).where(eq(provisioningSteps.tenantId, tenantId)).orderBy(asc(provisioningSteps.position));
}

async function loadRun(db: DbOrTx, runId: string): Promise<RunRow | undefined> {
  const rows = await db.select().from(provisioningRuns).where(eq(provisioningRuns.id, runId)).limit(1);
  return rows[0];
}

async function lockTenant(tx: Tx, tenantId: string) {
  const rows = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for('update').limit(1);
  return rows[0];
}

/** The next step of a provisioning run: the first that has neither succeeded nor been skipped. */
export function nextPendingStep(steps: StepRow[]): StepRow | undefined {
  return steps.find((s) => s.status !== 'succeeded' && s.status !== 'skipped');
}

/** Steps a teardown undoes, newest first: those that ran (or may have, if a process died in them). */
export function undoableSteps(steps: StepRow[]): StepRow[] {
  return steps.filter((s) => s.status === 'succeeded' || s.status === 'failed' || s.status === 'running' || (s.status === 'pending' && s.attempts > 0)).reverse();
}

// ---- writing helpers --------------------------------------------------------------------

function tenantEvent(tenantId: string, actor: string, type: AuditEventInput['event_type'], details: Record<string, unknown>): AuditEventInput {
  return { event_type: type, actor, resource_type: 'tenant', resource_id: tenantId, details: { component: 'provisioning', ...details } };
}

async function enqueue(tx: DbOrTx, services: Services, tenantId: string, dedupId: string, payload: Record<string, unknown>, delayMs?: number) {
  await enqueueControlStep(tx, services.clock, { topic: PROVISION_TOPIC, dedupId, tenantId, payload }, delayMs === undefined ? {} : { delayMs });
}

export async function enqueueStep(tx: DbOrTx, services: Services, tenantId: string, runId: string, step: ProvisionStepName) {
  await enqueue(tx, services, tenantId, `prov:${runId}:${step}`, { run_id: runId, action: 'step', step });
}

export async function enqueueUndo(tx: DbOrTx, services: Services, tenantId: string, runId: string, step: ProvisionStepName, purpose: TeardownPurpose) {
  await enqueue(tx, services, tenantId, `undo:${runId}:${step}`, { run_id: runId, action: 'undo', step, purpose });
}

export async function enqueueFinish(tx: DbOrTx, services: Services, tenantId: string, runId: string, purpose: TeardownPurpose) {
  await enqueue(tx, services, tenantId, `finish:${runId}`, { run_id: runId, action: 'finish', purpose });
}

/** A watchdog message due at the run's deadline: stuck runs are reported even where no cron calls detectStuckRuns. */
export async function enqueueDeadline(tx: DbOrTx, services: Services, tenantId: string, runId: string, deadline: Date) {
  await enqueue(tx, services, tenantId, `deadline:${runId}`, { run_id: runId, action: 'deadline' }, Math.max(0, deadline.getTime() - services.clock.now().getTime()));
}

/** Lets the local relay publish at once instead of at its next sweep. */
export function kickControl(services: Services) {
  services.onOutboxWritten?.(CONTROL);
}

export function deadlineFrom(services: Services, start: Date): Date {
  return new Date(start.getTime() + services.env.PROVISION_DEADLINE_MINUTES * 60_000);
}

/** Creates a run row; the caller's transaction holds the tenant row. */
export async function insertRun(tx: Tx, services: Services, input: { tenantId: string; kind: ProvisioningRunKind; actor: string }): Promise<RunRow> {
  const now = services.clock.now();
  const row: RunRow = {
    id: newRunId(),
    tenantId: input.tenantId,
    kind: input.kind,
    status: 'running',
    startedAt: now,
    updatedAt: now,
    finishedAt: null,
    deadlineAt: deadlineFrom(services, now),
    stuckReportedAt: null,
    error: null,
    requestedBy: input.actor,
  };
  await tx.insert(provisioningRuns).values(row);
  return row;
}

function errorText(f: StepFailure) {
  return `${f.code}: ${f.message}`;
}

function notification(services: Services, type: OwnerNotificationType, tenantId: string, runId: string, text: string, extra: Partial<OwnerNotification> = {}): OwnerNotification {
  return { type, tenant_id: tenantId, run_id: runId, occurred_at: services.clock.now().toISOString(), text, ...extra };
}

// ---- the step actions -------------------------------------------------------------------

interface StepOutcome {
  resourceIds: Record<string, string>;
  details: Record<string, unknown>;
}

/** Records ids as soon as a step knows them, so a step that fails half-way is still undone exactly. */
async function recordIds(services: Services, tenantId: string, step: ProvisionStepName, ids: Record<string, string>) {
  await services.control
    .update(provisioningSteps)
    .set({ resourceIds: sql`${provisioningSteps.resourceIds} || ${JSON.stringify(ids)}::jsonb` })
    .where(and(eq(provisioningSteps.tenantId, tenantId), eq(provisioningSteps.name, step)));
}

function idOf(steps: StepRow[], step: ProvisionStepName, key: string): string {
  const id = steps.find((s) => s.name === step)?.resourceIds[key];
  if (!id) throw new Error(`step ${step} has no ${key} recorded; run it first`);
  return id;
}

async function performStep(services: Services, tenantId: string, step: ProvisionStepName, steps: StepRow[]): Promise<StepOutcome> {
  const { cloud, env } = services;
  switch (step) {
    case 'network': {
      const r = await cloud.findOrCreateNetwork(networkSpec(env, tenantId));
      return { resourceIds: { network_id: r.id }, details: { name: r.name, created: r.created } };
    }
    case 'firewall': {
      const r = await cloud.findOrCreateFirewall(firewallSpec(env, tenantId));
      return { resourceIds: { firewall_id: r.id }, details: { name: r.name, created: r.created } };
    }
    case 'server': {
      const spec = serverSpec(env, tenantId, { networkId: idOf(steps, 'network', 'network_id'), firewallId: idOf(steps, 'firewall', 'firewall_id') });
      const r = await cloud.findOrCreateServer(spec);
      const ids: Record<string, string> = { server_id: r.id };
      if (r.privateIp) ids.private_ip = r.privateIp;
      if (r.publicIpv4) ids.public_ipv4 = r.publicIpv4;
      return { resourceIds: ids, details: { name: r.name, created: r.created, server_type: spec.serverType, location: spec.location } };
    }
    case 'volume': {
      const serverId = idOf(steps, 'server', 'server_id');
      const r = await cloud.findOrCreateVolume(volumeSpec(env, tenantId));
      await recordIds(services, tenantId, step, { volume_id: r.id });
      await cloud.attachVolume(r.id, serverId, { automount: true });
      return { resourceIds: { volume_id: r.id, attached_to: serverId }, details: { name: r.name, created: r.created, size_gb: env.HCLOUD_VOLUME_SIZE_GB } };
    }
    case 'storage': {
      const s = await services.planes.provision(tenantId);
      const ids: Record<string, string> = { schema: s.schema, bucket: s.bucket };
      if (s.database) ids.database = s.database;
      // How the tenant's objects are reached (S3_TENANT_CREDENTIALS). An STS session is not a
      // resource: nothing to delete on rollback, it expires on its own.
      if (s.bucketCredentials) ids.bucket_credentials = s.bucketCredentials;
      return { resourceIds: ids, details: { ...ids } };
    }
    case 'dns': {
      const spec = dnsRecordSpec(env, tenantId, idOf(steps, 'server', 'public_ipv4'));
      const r = await cloud.findOrCreateDnsRecord(spec);
      return { resourceIds: { dns_record_id: r.id, host: spec.host, ipv4: spec.ipv4 }, details: { name: r.name, created: r.created, zone: cloud.dnsZone } };
    }
    case 'health': {
      // Over HTTP, through the tenant's public health route: proves the request path too.
      const r = await waitForTenantHealthy(services, tenantId);
      return { resourceIds: {}, details: { url: r.url, attempts: r.attempts, database_ms: r.health.checks.database.latency_ms, storage_ms: r.health.checks.storage.latency_ms } };
    }
  }
}

// ---- running one step -------------------------------------------------------------------

export type ExecuteResult =
  | { kind: 'done'; next: ProvisionStepName | null; already: boolean }
  | { kind: 'retry'; failure: StepFailure }
  | { kind: 'failed'; failure: StepFailure }
  | { kind: 'ignored'; reason: string };

/**
 * Runs one step of a provisioning run. `queued`: the next step is written to the outbox in the
 * transaction that records this one. `inline` (the synchronous create): the caller loops.
 * A retryable failure before the last attempt leaves the step pending for the queue to retry.
 */
export async function executeStep(
  services: Services,
  tenantId: string,
  runId: string,
  step: ProvisionStepName,
  opts: { attempt: number; maxAttempts: number; mode: 'queued' | 'inline'; onProgress?: ProgressListener },
): Promise<ExecuteResult> {
  const run = await loadRun(services.control, runId);
  if (!run || run.kind !== 'provision' || run.status !== 'running') return { kind: 'ignored', reason: 'run is not running' };
  const steps = await loadSteps(services.control, tenantId);
  const row = steps.find((s) => s.name === step);
  if (!row) return { kind: 'ignored', reason: `tenant has no step ${step}` };

  if (row.status === 'succeeded' || row.status === 'skipped') {
    // A redelivery after the step was recorded: make sure the chain went on, then stop.
    const next = await advance(services, tenantId, runId, step, opts.mode);
    return { kind: 'done', next, already: true };
  }

  const startedAt = services.clock.now();
  await services.control
    .update(provisioningSteps)
    .set({ status: 'running', attempts: sql`${provisioningSteps.attempts} + 1`, startedAt, finishedAt: null })
    .where(and(eq(provisioningSteps.tenantId, tenantId), eq(provisioningSteps.name, step)));
  opts.onProgress?.({ step, status: 'running' });

  let outcome: StepOutcome;
  try {
    outcome = await performStep(services, tenantId, step, steps);
  } catch (err) {
    const failure = describeStepError(err);
    const final = !failure.retryable || opts.attempt >= opts.maxAttempts;
    services.log.log(final ? 'error' : 'warn', final ? 'provisioning step failed' : 'provisioning step failed; the queue will retry', {
      component: 'provisioning', tenant_id: tenantId, run_id: runId, step, attempt: opts.attempt, code: failure.code, error: failure.message,
    });
    if (!final) {
      await recordRetry(services, tenantId, runId, step, opts.attempt, failure);
      opts.onProgress?.({ step, status: 'pending', detail: errorText(failure) });
      return { kind: 'retry', failure };
    }
    await recordFailure(services, tenantId, runId, step, opts.attempt, failure);
    opts.onProgress?.({ step, status: 'failed', detail: errorText(failure) });
    return { kind: 'failed', failure };
  }

  const finishedAt = services.clock.now();
  let next: ProvisionStepName | null = null;
  await services.control.transaction(async (tx) => {
    await lockTenant(tx, tenantId);
    await tx
      .update(provisioningSteps)
      .set({ status: 'succeeded', finishedAt, error: null, resourceIds: sql`${provisioningSteps.resourceIds} || ${JSON.stringify(outcome.resourceIds)}::jsonb` })
      .where(and(eq(provisioningSteps.tenantId, tenantId), eq(provisioningSteps.name, step)));
    await appendEvents(tx, tenantId, [
      tenantEvent(tenantId, 'system', 'TENANT_PROVISION_STEP_COMPLETED', {
        run_id: runId, step, status: 'succeeded', attempt: row.attempts + 1, duration_ms: finishedAt.getTime() - startedAt.getTime(),
        resource_ids: outcome.resourceIds, ...outcome.details,
      }),
    ], services.clock);
    // The run may have been rolled back or superseded while this step worked: the step's result is
    // recorded (the resource exists), but the chain stops here.
    const current = await loadRun(tx, runId);
    if (current?.status !== 'running') return;
    next = await advanceInTx(tx, services, tenantId, runId, step, opts.mode);
  });
  opts.onProgress?.({ step, status: 'succeeded', detail: Object.entries(outcome.resourceIds).map(([k, val]) => `${k}=${val}`).join(' ') });
  if (opts.mode === 'queued') kickControl(services);
  return { kind: 'done', next, already: false };
}

async function advance(services: Services, tenantId: string, runId: string, after: ProvisionStepName, mode: 'queued' | 'inline'): Promise<ProvisionStepName | null> {
  const next = await services.control.transaction(async (tx) => {
    await lockTenant(tx, tenantId);
    const current = await loadRun(tx, runId);
    if (current?.status !== 'running') return null;
    return advanceInTx(tx, services, tenantId, runId, after, mode);
  });
  if (mode === 'queued') kickControl(services);
  return next;
}

/** Queues the step after `after`, or, when none is left, makes the tenant ACTIVE. */
async function advanceInTx(tx: Tx, services: Services, tenantId: string, runId: string, after: ProvisionStepName, mode: 'queued' | 'inline'): Promise<ProvisionStepName | null> {
  const steps = await loadSteps(tx, tenantId);
  const position = steps.find((s) => s.name === after)?.position ?? 0;
  const next = nextPendingStep(steps.filter((s) => s.position > position)) ?? nextPendingStep(steps);
  if (next) {
    if (mode === 'queued') await enqueueStep(tx, services, tenantId, runId, next.name as ProvisionStepName);
    return next.name as ProvisionStepName;
  }
  await finishProvisioning(tx, services, tenantId, runId, steps);
  return null;
}

async function finishProvisioning(tx: Tx, services: Services, tenantId: string, runId: string, steps: StepRow[]) {
  const tenant = await lockTenant(tx, tenantId);
  if (!tenant || tenant.state !== 'PROVISIONING') return;
  const run = await loadRun(tx, runId);
  const now = services.clock.now();
  const storageIds = steps.find((s) => s.name === 'storage')?.resourceIds ?? {};
  const storage: TenantStorage = { bucket: storageIds.bucket ?? '', schema: storageIds.schema ?? '', ...(storageIds.database ? { database: storageIds.database } : {}) };
  const cloud: Record<string, string> = {};
  for (const s of steps) if (CLOUD_STEPS[s.name as ProvisionStepName] && s.status === 'succeeded') Object.assign(cloud, s.resourceIds);
  await tx.update(tenants).set({ state: 'ACTIVE', storage, updatedAt: now }).where(eq(tenants.id, tenantId));
  await tx.update(provisioningRuns).set({ status: 'succeeded', finishedAt: now, updatedAt: now, error: null }).where(eq(provisioningRuns.id, runId));
  await appendEvents(tx, tenantId, [
    tenantEvent(tenantId, 'system', 'TENANT_PROVISIONED', {
      run_id: runId, status: 'ACTIVE', ...(run ? { duration_ms: now.getTime() - run.startedAt.getTime() } : {}),
      bucket: storage.bucket, schema: storage.schema, ...(storage.database ? { database: storage.database } : {}),
      cloud: services.cloud.kind, ...(Object.keys(cloud).length ? { cloud_resources: cloud } : {}),
    }),
  ], services.clock);
}

async function recordRetry(services: Services, tenantId: string, runId: string, step: ProvisionStepName, attempt: number, failure: StepFailure) {
  await services.control.transaction(async (tx) => {
    await lockTenant(tx, tenantId);
    await tx
      .update(provisioningSteps)
      .set({ status: 'pending', error: errorText(failure), finishedAt: services.clock.now() })
      .where(and(eq(provisioningSteps.tenantId, tenantId), eq(provisioningSteps.name, step)));
    await tx.update(provisioningRuns).set({ updatedAt: services.clock.now(), error: errorText(failure) }).where(eq(provisioningRuns.id, runId));
    await appendEvents(tx, tenantId, [
      tenantEvent(tenantId, 'system', 'TENANT_PROVISION_RETRY', { run_id: runId, step, attempt, trigger: 'retryable_error', error_code: failure.code, error: failure.message }),
    ], services.clock);
  });
}

/** A permanent failure: the step, the run and the tenant are FAILED, and the owner hears of it. */
async function recordFailure(services: Services, tenantId: string, runId: string, step: ProvisionStepName, attempt: number, failure: StepFailure) {
  const now = services.clock.now();
  await services.control.transaction(async (tx) => {
    const tenant = await lockTenant(tx, tenantId);
    await tx
      .update(provisioningSteps)
      .set({ status: 'failed', error: errorText(failure), finishedAt: now })
      .where(and(eq(provisioningSteps.tenantId, tenantId), eq(provisioningSteps.name, step)));
    const run = await loadRun(tx, runId);
    // Superseded or rolled back meanwhile: record the step's error only.
    if (run?.status !== 'running' || tenant?.state !== 'PROVISIONING') return;
    await tx.update(provisioningRuns).set({ status: 'failed', error: `${step}: ${errorText(failure)}`, finishedAt: now, updatedAt: now }).where(eq(provisioningRuns.id, runId));
    await tx.update(tenants).set({ state: 'FAILED', updatedAt: now }).where(eq(tenants.id, tenantId));
    const notified = await queueOwnerNotification(tx, services, notification(
      services, 'tenant.provision_failed', tenantId, runId,
      `Frostbyte: provisioning of tenant ${tenantId} failed at step ${step} (${failure.code}: ${failure.message}). The tenant is FAILED: resume or roll back (runbook: docs/runbooks/provisioning.md).`,
      { step, error: errorText(failure) },
    ));
    await appendEvents(tx, tenantId, [
      tenantEvent(tenantId, 'system', 'TENANT_PROVISION_FAILED', {
        run_id: runId, step, attempt, status: 'FAILED', reason: 'STEP_FAILED', retryable: failure.retryable, error_code: failure.code, error: failure.message, owner_notification: notified,
      }),
    ], services.clock);
  });
  kickControl(services);
}

// ---- teardown (rollback, deprovision, abandon) --------------------------------------------

/** Runs one undo: deletes what the step made, newest first, and queues the one before it. */
export async function undoStep(
  services: Services,
  tenantId: string,
  runId: string,
  step: ProvisionStepName,
  purpose: TeardownPurpose,
  opts: { attempt: number; maxAttempts: number },
): Promise<ExecuteResult> {
  const run = await loadRun(services.control, runId);
  if (!run || run.kind === 'provision' || run.status !== 'running') return { kind: 'ignored', reason: 'run is not running' };
  const steps = await loadSteps(services.control, tenantId);
  const row = steps.find((s) => s.name === step);
  if (!row) return { kind: 'ignored', reason: `tenant has no step ${step}` };

  if (row.status !== 'rolled_back' && undoableSteps([row]).length) {
    try {
      const deleted = await performUndo(services, tenantId, row);
      await services.control
        .update(provisioningSteps)
        .set({ status: 'rolled_back', finishedAt: services.clock.now(), error: null, resourceIds: { ...row.resourceIds, ...deleted } })
        .where(and(eq(provisioningSteps.tenantId, tenantId), eq(provisioningSteps.name, step)));
    } catch (err) {
      const failure = describeStepError(err);
      const final = !failure.retryable || opts.attempt >= opts.maxAttempts;
      services.log.log(final ? 'error' : 'warn', 'undoing a provisioning step failed', {
        component: 'provisioning', tenant_id: tenantId, run_id: runId, step, purpose, attempt: opts.attempt, code: failure.code, error: failure.message,
      });
      await services.control
        .update(provisioningSteps)
        .set({ error: `undo: ${errorText(failure)}` })
        .where(and(eq(provisioningSteps.tenantId, tenantId), eq(provisioningSteps.name, step)));
      if (!final) return { kind: 'retry', failure };
      await recordTeardownFailure(services, tenantId, runId, step, purpose, failure);
      return { kind: 'failed', failure };
    }
  }

  const before = undoableSteps(steps).find((s) => s.position < row.position);
  await services.control.transaction(async (tx) => {
    const current = await loadRun(tx, runId);
    if (current?.status !== 'running') return;
    await tx.update(provisioningRuns).set({ updatedAt: services.clock.now() }).where(eq(provisioningRuns.id, runId));
    if (before) await enqueueUndo(tx, services, tenantId, runId, before.name as ProvisionStepName, purpose);
    else await enqueueFinish(tx, services, tenantId, runId, purpose);
  });
  kickControl(services);
  return { kind: 'done', next: before ? (before.name as ProvisionStepName) : null, already: false };
}

/** Deletes exactly what the step made: the ids it recorded, plus any resource of its name labelled for this tenant. */
async function performUndo(services: Services, tenantId: string, row: StepRow): Promise<Record<string, string>> {
  const step = row.name as ProvisionStepName;
  const kind = CLOUD_STEPS[step];
  if (kind) {
    if (services.cloud.kind === 'none') {
      // This step ran against a cloud, but this process has none configured: saying "deleted"
      // here would leak the resources. Run the teardown where HCLOUD_TOKEN is set.
      throw new CloudProviderError('cloud_not_configured', `step ${step} made ${kind} resources, but this process has no cloud configured (set HCLOUD_TOKEN)`, { retryable: false });
    }
    const name = cloudResourceName(services.env, tenantId, step);
    const ids = new Set<string>();
    const recorded = row.resourceIds[`${kind}_id`];
    if (recorded) ids.add(recorded);
    // A step that died between the cloud's answer and our write left no id: find it by its name.
    for (const r of await services.cloud.listResources(tenantSelector(tenantId))) if (r.kind === kind && r.name === name) ids.add(r.id);
    for (const id of ids) {
      if (kind === 'volume') await services.cloud.deleteVolume(id);
      else if (kind === 'server') await services.cloud.deleteServer(id);
      else if (kind === 'firewall') await services.cloud.deleteFirewall(id);
      else if (kind === 'dns_record') await services.cloud.deleteDnsRecord(id);
      else await services.cloud.deleteNetwork(id);
    }
    return ids.size ? { deleted: [...ids].join(',') } : {};
  }
  if (step === 'storage') {
    await services.planes.destroy(tenantId);
    return { deleted: [row.resourceIds.database, row.resourceIds.schema, row.resourceIds.bucket].filter(Boolean).join(',') };
  }
  return {};
}

async function recordTeardownFailure(services: Services, tenantId: string, runId: string, step: ProvisionStepName, purpose: TeardownPurpose, failure: StepFailure) {
  const now = services.clock.now();
  await services.control.transaction(async (tx) => {
    await lockTenant(tx, tenantId);
    await tx.update(provisioningRuns).set({ status: 'failed', error: `undo ${step}: ${errorText(failure)}`, finishedAt: now, updatedAt: now }).where(eq(provisioningRuns.id, runId));
    // A failed rollback leaves the tenant FAILED (it never served); a failed deprovision stays
    // DEPROVISIONING, where `deprovision`/`abandon` can be run again once the cause is fixed.
    if (purpose === 'rollback') await tx.update(tenants).set({ state: 'FAILED', updatedAt: now }).where(eq(tenants.id, tenantId));
    const notified = await queueOwnerNotification(tx, services, notification(
      services, 'tenant.cleanup_failed', tenantId, runId,
      `Frostbyte: ${purpose} of tenant ${tenantId} stopped at step ${step} (${failure.code}: ${failure.message}). Resources may be left: list them with \`frostbyte tenant resources ${tenantId}\` and follow docs/runbooks/provisioning.md.`,
      { step, error: errorText(failure) },
    ));
    await appendEvents(tx, tenantId, [
      tenantEvent(tenantId, 'system', 'TENANT_PROVISION_FAILED', {
        run_id: runId, step, reason: 'CLEANUP_FAILED', phase: purpose, error_code: failure.code, error: failure.message, owner_notification: notified,
      }),
    ], services.clock);
  });
  kickControl(services);
}

/** After the last undo: check nothing labelled for the tenant is left, then set the final state. */
export async function finishTeardown(services: Services, tenantId: string, runId: string, purpose: TeardownPurpose): Promise<ExecuteResult> {
  const run = await loadRun(services.control, runId);
  if (!run || run.status !== 'running') return { kind: 'ignored', reason: 'run is not running' };
  let remaining: CloudResource[];
  try {
    remaining = await services.cloud.listResources(tenantSelector(tenantId));
  } catch (err) {
    const failure = describeStepError(err);
    if (failure.retryable) return { kind: 'retry', failure };
    remaining = [];
  }
  const steps = await loadSteps(services.control, tenantId);
  // A tenant made before steps were recorded has no storage step to undo; dropping is idempotent.
  if (purpose !== 'rollback' && !steps.some((s) => s.name === 'storage')) {
    try {
      await services.planes.destroy(tenantId);
    } catch (err) {
      const failure = describeStepError(err);
      if (failure.retryable) return { kind: 'retry', failure };
      throw err;
    }
  }
  const deleted = steps
    .filter((s) => s.status === 'rolled_back')
    .reverse()
    .map((s) => ({ step: s.name, resource_ids: s.resourceIds }));
  const now = services.clock.now();
  const finalState: TenantState = purpose === 'rollback' ? 'FAILED' : 'DEPROVISIONED';
  await services.control.transaction(async (tx) => {
    const tenant = await lockTenant(tx, tenantId);
    if (!tenant) return;
    const leak = remaining.map((r) => ({ kind: r.kind, id: r.id, name: r.name }));
    await tx
      .update(provisioningRuns)
      .set({ status: leak.length ? 'failed' : 'succeeded', finishedAt: now, updatedAt: now, error: leak.length ? `resources still labelled for the tenant: ${leak.map((r) => `${r.kind} ${r.id}`).join(', ')}` : null })
      .where(eq(provisioningRuns.id, runId));
    // The provisioning runs this teardown undid.
    await tx
      .update(provisioningRuns)
      .set({ status: purpose === 'abandon' ? 'abandoned' : 'rolled_back', updatedAt: now, finishedAt: now })
      .where(and(eq(provisioningRuns.tenantId, tenantId), eq(provisioningRuns.kind, 'provision'), inArray(provisioningRuns.status, ['running', 'failed'])));
    await tx.update(tenants).set({ state: finalState, updatedAt: now, ...(finalState === 'DEPROVISIONED' ? { storage: null } : {}) }).where(eq(tenants.id, tenantId));
    const details: Record<string, unknown> = { run_id: runId, status: finalState, reason: purpose, deleted, remaining: leak };
    if (purpose === 'rollback' || leak.length) {
      details.owner_notification = await queueOwnerNotification(tx, services, notification(
        services, leak.length ? 'tenant.cleanup_failed' : 'tenant.rolled_back', tenantId, runId,
        leak.length
          ? `Frostbyte: ${purpose} of tenant ${tenantId} finished but ${leak.length} cloud resource(s) labelled tenant_id=${tenantId} remain; delete them by hand (docs/runbooks/provisioning.md).`
          : `Frostbyte: tenant ${tenantId} was rolled back; everything its provisioning created was deleted. The tenant is FAILED.`,
        { details: { deleted, remaining: leak } },
      ));
    }
    await appendEvents(tx, tenantId, [
      tenantEvent(tenantId, run.requestedBy, purpose === 'rollback' ? 'TENANT_ROLLED_BACK' : 'TENANT_DEPROVISIONED', details),
    ], services.clock);
  });
  kickControl(services);
  return { kind: 'done', next: null, already: false };
}

// ---- stuck runs -------------------------------------------------------------------------

/**
 * Reports every run past its deadline once: an audit event (TENANT_PROVISION_FAILED with reason
 * STUCK; the tenant's state is left alone, an engineer decides) and the owner's notification.
 * The Node driver's sweep and the Workers cron call this; each run's deadline message does too.
 */
export async function detectStuckRuns(services: Services): Promise<{ tenantId: string; runId: string }[]> {
  const now = services.clock.now();
  const due = await services.control
    .select({ id: provisioningRuns.id, tenantId: provisioningRuns.tenantId })
    .from(provisioningRuns)
    .where(and(eq(provisioningRuns.status, 'running'), isNull(provisioningRuns.stuckReportedAt), lte(provisioningRuns.deadlineAt, now)))
    .limit(100);
  const reported: { tenantId: string; runId: string }[] = [];
  for (const r of due) if (await reportStuckRun(services, r.tenantId, r.id)) reported.push({ tenantId: r.tenantId, runId: r.id });
  return reported;
}

export async function reportStuckRun(services: Services, tenantId: string, runId: string): Promise<boolean> {
  const now = services.clock.now();
  const reported = await services.control.transaction(async (tx) => {
    const tenant = await lockTenant(tx, tenantId);
    const claimed = await tx
      .update(provisioningRuns)
      .set({ stuckReportedAt: now })
      .where(and(eq(provisioningRuns.id, runId), eq(provisioningRuns.status, 'running'), isNull(provisioningRuns.stuckReportedAt), lte(provisioningRuns.deadlineAt, now)))
      .returning();
    const run = claimed[0];
    if (!run || !tenant) return false;
    const steps = await loadSteps(tx, tenantId);
    const current = steps.find((s) => s.status === 'running') ?? (run.kind === 'provision' ? nextPendingStep(steps) : undefined);
    const minutes = Math.round((now.getTime() - run.startedAt.getTime()) / 60_000);
    const notified = await queueOwnerNotification(tx, services, notification(
      services, 'tenant.provision_stuck', tenantId, runId,
      `Frostbyte: ${run.kind} of tenant ${tenantId} has been running for ${minutes} min (deadline ${services.env.PROVISION_DEADLINE_MINUTES} min)${current ? `, at step ${current.name} (${current.status}, ${current.attempts} attempt(s)${current.error ? `, last error ${current.error}` : ''})` : ''}. Check \`frostbyte tenant status ${tenantId}\`, then resume or roll back.`,
      { ...(current ? { step: current.name, ...(current.error ? { error: current.error } : {}) } : {}) },
    ));
    await appendEvents(tx, tenantId, [
      tenantEvent(tenantId, 'system', 'TENANT_PROVISION_FAILED', {
        run_id: runId, reason: 'STUCK', kind: run.kind, tenant_state: tenant.state, started_at: run.startedAt.toISOString(), deadline_at: run.deadlineAt.toISOString(),
        minutes_running: minutes, ...(current ? { step: current.name, step_status: current.status, attempts: current.attempts, last_error: current.error } : {}),
        owner_notification: notified,
      }),
    ], services.clock);
    return true;
  });
  if (reported) {
    services.log.log('error', 'provisioning run is stuck past its deadline', { component: 'provisioning', tenant_id: tenantId, run_id: runId });
    kickControl(services);
  }
  return reported;
}

// ---- the queue entry --------------------------------------------------------------------

/** One message of the `provision` topic. Throws RetryableStepError for "deliver again later". */
export async function handleProvisionMessage(services: Services, msg: ProvisionMessage, ctx: StepContextLike): Promise<{ status: 'done' | 'already_done' | 'failed' | 'skipped'; detail?: string }> {
  const maxAttempts = services.env.STEP_MAX_ATTEMPTS;
  let result: ExecuteResult;
  switch (msg.action) {
    case 'step':
      result = await executeStep(services, msg.tenant_id, msg.run_id, msg.step, { attempt: ctx.attempt, maxAttempts, mode: 'queued' });
      break;
    case 'undo':
      result = await undoStep(services, msg.tenant_id, msg.run_id, msg.step, msg.purpose, { attempt: ctx.attempt, maxAttempts });
      break;
    case 'finish':
      result = await finishTeardown(services, msg.tenant_id, msg.run_id, msg.purpose);
      break;
    case 'deadline':
      return (await reportStuckRun(services, msg.tenant_id, msg.run_id)) ? { status: 'done', detail: 'reported stuck' } : { status: 'skipped', detail: 'run finished in time' };
    case 'notify':
      await deliverOwnerNotification(services, msg.notification as OwnerNotification, ctx.messageId);
      return { status: 'done' };
  }
  if (result.kind === 'retry') throw new RetryableStepError(errorText(result.failure));
  if (result.kind === 'failed') return { status: 'failed', detail: errorText(result.failure) };
  if (result.kind === 'ignored') return { status: 'skipped', detail: result.reason };
  return { status: result.already ? 'already_done' : 'done' };
}

/**
 * The synchronous path (`frostbyte tenant create`, the embedded demo tenant, tests): the same
 * steps, one after the other in this process, each tried once.
 */
export async function runProvisioningInline(services: Services, tenantId: string, runId: string, onProgress?: ProgressListener): Promise<void> {
  for (let guard = 0; guard < PROVISION_STEPS.length + 1; guard++) {
    const next = nextPendingStep(await loadSteps(services.control, tenantId));
    if (!next) return;
    const r = await executeStep(services, tenantId, runId, next.name as ProvisionStepName, { attempt: 1, maxAttempts: 1, mode: 'inline', onProgress });
    if (r.kind === 'failed' || r.kind === 'retry') throw new ProvisioningFailedError(tenantId, next.name, r.failure);
    if (r.kind === 'ignored') throw new Error(`provisioning of ${tenantId} stopped: ${r.reason}`);
    if (r.next === null) return;
  }
}
