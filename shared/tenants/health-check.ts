import { eq } from 'drizzle-orm';
import * as v from 'valibot';
import { tenants } from '../db/schema/control';
import { AppError } from '../http/errors';
import { TENANT_ID_PATTERN } from '../ids';
import type { Services } from '../services';
import type { DataPlane } from './data-plane';

/**
 * A tenant's readiness (DESIGN §7, the last provisioning step): its data plane answers a query
 * and its bucket answers. The check runs inside the service, behind the tenant's public health
 * route (`GET /api/v1/tenants/{tenant}/health`), and provisioning calls that route over HTTP at
 * the tenant's public URL: a tenant is ACTIVE only once a request to where its vendors will send
 * theirs reached its own database and bucket.
 */

export interface HealthCheck {
  status: 'ok' | 'failed';
  latency_ms: number;
  message?: string;
  error?: unknown;
}

/** A tenant's database and bucket, each probed once. Never throws: a probe that fails says so. */
export async function checkTenantHealth(services: Services, tenantId: string): Promise<{ database: HealthCheck; storage: HealthCheck }> {
  const failed = (started: number, e: unknown): HealthCheck => ({ status: 'failed', latency_ms: Date.now() - started, message: e instanceof Error ? e.message : String(e), error: e });
  const probe = async (fn: () => Promise<unknown>): Promise<HealthCheck> => {
    const started = Date.now();
    try {
      await fn();
      return { status: 'ok', latency_ms: Date.now() - started };
    } catch (e) {
      return failed(started, e);
    }
  };
  const started = Date.now();
  let plane: DataPlane;
  try {
    plane = await services.planes.forTenant(tenantId);
  } catch (e) {
    return { database: failed(started, e), storage: failed(started, e) };
  }
  return {
    database: await probe(() => plane.db.select({ id: plane.tables.batches.batchId }).from(plane.tables.batches).limit(1)),
    storage: await probe(() => plane.store.check()),
  };
}

const CheckSchema = v.object({ status: v.picklist(['ok', 'failed']), latency_ms: v.number() });

/** The body of the tenant health route: statuses and timings only, never an error text. */
export const TenantHealthSchema = v.object({
  tenant_id: v.string(),
  status: v.picklist(['ready', 'not_ready']),
  timestamp: v.pipe(v.string(), v.isoTimestamp()),
  checks: v.object({ database: CheckSchema, storage: CheckSchema }),
});
export type TenantHealth = v.InferOutput<typeof TenantHealthSchema>;

/**
 * The verb behind the tenant health route. Any tenant that was not deprovisioned is checked
 * (provisioning calls it before the tenant is ACTIVE); an unknown or deprovisioned one is 404.
 * Failures are logged with their cause and answered as `failed` only.
 */
export async function tenantHealth(services: Services, tenantId: string): Promise<TenantHealth> {
  const rows = TENANT_ID_PATTERN.test(tenantId) ? await services.control.select({ state: tenants.state }).from(tenants).where(eq(tenants.id, tenantId)).limit(1) : [];
  const state = rows[0]?.state;
  if (!state || state === 'DEPROVISIONING' || state === 'DEPROVISIONED') throw new AppError('NOT_FOUND', `Tenant ${tenantId} was not found.`);
  const checks = await checkTenantHealth(services, tenantId);
  for (const [name, c] of Object.entries(checks)) {
    if (c.status === 'failed') services.log.log('warn', 'tenant readiness probe failed', { component: 'health', tenant_id: tenantId, check: name, error: c.message ?? '' });
  }
  const ready = checks.database.status === 'ok' && checks.storage.status === 'ok';
  const view = (c: HealthCheck) => ({ status: c.status, latency_ms: c.latency_ms });
  return {
    tenant_id: tenantId,
    status: ready ? 'ready' : 'not_ready',
    timestamp: services.clock.now().toISOString(),
    checks: { database: view(checks.database), storage: view(checks.storage) },
  };
}

// ---- the provisioning step's side: a real HTTP request -------------------------------------

/** Longest wait for one answer of the health route, in ms. */
export const HEALTH_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Why the health step failed. `tenant_unreachable`: no HTTP answer (refused, DNS, timeout);
 * `tenant_not_ready`: an answer, but not "ready" for this tenant. Both may pass (a starting
 * server, DNS still propagating, a database coming up), so the queue retries the step.
 */
export class TenantHealthError extends Error {
  readonly retryable = true;
  constructor(
    readonly code: 'tenant_unreachable' | 'tenant_not_ready',
    message: string,
  ) {
    super(message);
    this.name = 'TenantHealthError';
  }
}

/**
 * The URL of a tenant's health route: TENANT_PUBLIC_URL with `{tenant}` filled in; unset, this
 * process's own API (the Node server's listening address, or its loopback listener), else
 * PUBLIC_URL (Workers, Lambda).
 */
export async function tenantHealthUrl(services: Pick<Services, 'env' | 'selfUrl'>, tenantId: string): Promise<string> {
  const { env } = services;
  const base = env.TENANT_PUBLIC_URL?.replaceAll('{tenant}', tenantId) ?? (await services.selfUrl?.()) ?? env.PUBLIC_URL ?? `http://${env.HOST}:${env.PORT}`;
  return `${base.replace(/\/+$/, '')}/api/v1/tenants/${tenantId}/health`;
}

/**
 * Calls the tenant's health route until it answers 200 `ready` for this tenant, up to
 * TENANT_HEALTH_ATTEMPTS times with waits of TENANT_HEALTH_BACKOFF_MS doubled each time.
 * Throws TenantHealthError naming the URL and the last answer.
 */
export async function waitForTenantHealthy(services: Services, tenantId: string): Promise<{ url: string; attempts: number; health: TenantHealth }> {
  const url = await tenantHealthUrl(services, tenantId);
  const send = services.healthFetch ?? ((u: string, init: RequestInit) => fetch(u, init));
  const attempts = services.env.TENANT_HEALTH_ATTEMPTS;
  let last = new TenantHealthError('tenant_unreachable', 'not tried');
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, services.env.TENANT_HEALTH_BACKOFF_MS * 2 ** (attempt - 2)));
    let status: number;
    let text: string;
    try {
      const res = await send(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(HEALTH_REQUEST_TIMEOUT_MS) });
      status = res.status;
      text = await res.text();
    } catch (e) {
      last = new TenantHealthError('tenant_unreachable', `GET ${url}: no answer (${networkReason(e)}) after ${attempt} attempt(s)`);
      continue;
    }
    const parsed = v.safeParse(TenantHealthSchema, parseJson(text));
    if (!parsed.success) {
      last = new TenantHealthError('tenant_not_ready', `GET ${url}: HTTP ${status} without a tenant health answer after ${attempt} attempt(s)`);
      continue;
    }
    const health = parsed.output;
    if (health.tenant_id !== tenantId) {
      last = new TenantHealthError('tenant_not_ready', `GET ${url}: answered for tenant ${health.tenant_id}, not ${tenantId}`);
      continue;
    }
    if (status === 200 && health.status === 'ready') return { url, attempts: attempt, health };
    const failed = Object.entries(health.checks).filter(([, c]) => c.status !== 'ok').map(([name]) => name);
    last = new TenantHealthError('tenant_not_ready', `GET ${url}: HTTP ${status} ${health.status}${failed.length ? ` (${failed.join(', ')} failed)` : ''} after ${attempt} attempt(s)`);
  }
  throw last;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `fetch failed` says little; the cause names the socket error (ECONNREFUSED, ENOTFOUND, …). */
function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return `no answer within ${HEALTH_REQUEST_TIMEOUT_MS} ms`;
  return e instanceof Error ? e.message : String(e);
}
