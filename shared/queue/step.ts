import { Hono } from 'hono';
import * as v from 'valibot';
import { deadLetters } from '../db/schema/control';
import type { AppEnv } from '../http/context';
import { AppError } from '../http/errors';
import { newId } from '../ids';
import type { Services } from '../services';
import type { DataPlane } from '../tenants/data-plane';
import { findTenant } from '../tenants/tenants';
import { stepUrl } from './queue';

/** A failure worth retrying (storage blip, database busy): the step answers non-2xx. */
export class RetryableStepError extends Error {
  constructor(message: string, readonly retryAfterSeconds = 30) {
    super(message);
    this.name = 'RetryableStepError';
  }
}

export type StepResult = { status: 'done' | 'already_done' | 'failed' | 'skipped'; detail?: string };

export interface StepContext {
  /** 1 on first delivery (QStash `Upstash-Retried` + 1). */
  attempt: number;
  messageId: string;
}

export interface StepDefinition<T> {
  topic: string;
  schema: v.GenericSchema<unknown, T>;
  /** Permanent failures are recorded by the step itself and return `failed` (answered 2xx). */
  run(services: Services, plane: DataPlane, payload: T, ctx: StepContext): Promise<StepResult>;
}

const TenantPayload = v.object({ tenant_id: v.string() });

/**
 * Mounts step endpoints at `/steps/{topic}`: verify the signature on the raw body first, then
 * validate, then run. Redelivered finished work answers 200 and does nothing (the step checks);
 * retryable errors answer 503 so the queue backs off; a suspended tenant's work waits (503).
 */
export function stepRoutes(steps: StepDefinition<never>[] | StepDefinition<unknown>[]) {
  const byTopic = new Map<string, StepDefinition<unknown>>((steps as StepDefinition<unknown>[]).map((s) => [s.topic, s]));
  const app = new Hono<AppEnv>();

  app.post('/steps/:topic', async (c) => {
    const services = c.get('services');
    const topic = c.req.param('topic');
    const raw = await c.req.text();
    const signature = c.req.header('upstash-signature');
    if (!services.steps || !signature || !(await services.steps.verifier.verify({ signature, body: raw, url: stepUrl(services.steps.baseUrl, topic) }))) {
      throw new AppError('AUTHENTICATION_REQUIRED', 'Step messages must carry a valid Upstash-Signature.');
    }
    if (topic === 'failed') return c.json(await recordQstashFailure(services, raw));
    const step = byTopic.get(topic);
    if (!step) throw new AppError('NOT_FOUND', `No step ${topic}.`);

    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      services.log.log('error', 'step message is not JSON; dropped', { component: 'steps', topic });
      return c.json({ status: 'ignored', reason: 'body is not JSON' });
    }
    const tenantPart = v.safeParse(TenantPayload, json);
    const parsed = v.safeParse(step.schema, json);
    if (!tenantPart.success || !parsed.success) {
      services.log.log('error', 'step message failed validation; dropped', { component: 'steps', topic });
      return c.json({ status: 'ignored', reason: 'payload failed validation' });
    }
    const tenantId = tenantPart.output.tenant_id;
    const tenant = await findTenant(services, tenantId);
    if (!tenant || tenant.state === 'DEPROVISIONED' || tenant.state === 'DEPROVISIONING') {
      return c.json({ status: 'ignored', reason: 'tenant no longer exists' });
    }
    if (tenant.state !== 'ACTIVE') {
      // Suspended (or not ready): the work waits in the queue instead of failing.
      c.header('Retry-After', '60');
      return c.json({ status: 'waiting', reason: `tenant is ${tenant.state}` }, 503);
    }
    const plane = await services.planes.forTenant(tenantId);
    const attempt = Number(c.req.header('upstash-retried') ?? '0') + 1;
    const messageId = c.req.header('upstash-message-id') ?? 'unknown';
    const started = Date.now();
    const timed = (outcome: string) => services.metrics?.observe('frostbyte_step_duration_seconds', { tenant_id: tenantId, step: topic, outcome }, (Date.now() - started) / 1000);
    try {
      const result = await step.run(services, plane, parsed.output, { attempt, messageId });
      timed(result.status);
      return c.json(result);
    } catch (e) {
      timed('retry');
      const retryAfter = e instanceof RetryableStepError ? e.retryAfterSeconds : 30;
      services.log.log('warn', 'step failed; the queue will retry', {
        component: 'steps', tenant_id: tenantId, topic, attempt, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      });
      c.header('Retry-After', String(retryAfter));
      return c.json({ status: 'retry', attempt }, 503);
    }
  });
  return app;
}

const FailureCallback = v.object({
  status: v.optional(v.number()),
  retried: v.optional(v.number()),
  sourceHeader: v.optional(v.record(v.string(), v.array(v.string()))),
  sourceBody: v.optional(v.string()),
  body: v.optional(v.string()),
  url: v.optional(v.string()),
});

/** QStash's failure callback: the message ran out of retries. Keep it for operators. */
async function recordQstashFailure(services: Services, raw: string) {
  const parsed = v.safeParse(FailureCallback, JSON.parse(raw));
  if (!parsed.success) return { status: 'ignored' };
  const f = parsed.output;
  const header = (name: string) => Object.entries(f.sourceHeader ?? {}).find(([k]) => k.toLowerCase() === name)?.[1]?.[0];
  const decode = (b64?: string) => (b64 ? new TextDecoder().decode(Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))) : '');
  let payload: Record<string, unknown> = {};
  try {
    payload = JSON.parse(decode(f.sourceBody)) as Record<string, unknown>;
  } catch {
    payload = { unparsable: true };
  }
  await services.control.insert(deadLetters).values({
    id: newId('msg'),
    tenantId: header('frostbyte-tenant') ?? String(payload.tenant_id ?? 'unknown'),
    topic: (f.url ?? '').split('/').pop() ?? 'unknown',
    dedupId: header('frostbyte-dedup-id') ?? 'unknown',
    payload,
    error: `delivery failed after ${f.retried ?? '?'} retries; last status ${f.status ?? '?'}: ${decode(f.body).slice(0, 500)}`,
    attempts: (f.retried ?? 0) + 1,
    createdAt: services.clock.now(),
  });
  return { status: 'dead_lettered' };
}
